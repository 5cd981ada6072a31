// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Move focus to an error summary so screen readers announce it.
  var summary = document.querySelector("[data-autofocus]");
  if (summary) { summary.focus(); }

  // eID: refresh the animated QR code every second and poll the order every two seconds.
  var qr = document.getElementById("eid-qr");
  if (qr) {
    var base = qr.getAttribute("data-refresh");
    setInterval(function () { qr.src = base + (base.indexOf("?") < 0 ? "?" : "&") + "t=" + Date.now(); }, 1000);
  }
  var status = document.getElementById("eid-status");
  if (status && status.getAttribute("data-poll")) {
    var url = status.getAttribute("data-poll");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.message && status.textContent !== s.message) { status.textContent = s.message; }
          if (s.done && s.next) { window.location.assign(s.next); return; }
          setTimeout(poll, 2000);
        })
        .catch(function () { setTimeout(poll, 4000); });
    };
    setTimeout(poll, 2000);
  }
})();
