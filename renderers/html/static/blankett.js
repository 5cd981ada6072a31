// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Move focus to an error summary so screen readers announce it.
  var summary = document.querySelector("[data-autofocus]");
  if (summary) { summary.focus(); }

  // Questions that depend on other answers appear and disappear as the person answers: the
  // server decides with the flow's own rules (the same as when the step is saved) and says
  // which fields are hidden. Without this script a save does the same.
  var stepForm = document.querySelector("form[data-visibility]");
  if (stepForm && stepForm.getAttribute("data-visibility")) {
    var visibilityUrl = stepForm.getAttribute("data-visibility");
    var timer = null;
    var asked = 0;
    var ask = function () {
      var mine = ++asked;
      var body = new URLSearchParams(new FormData(stepForm));
      fetch(visibilityUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
        body: body.toString()
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (v) {
          if (!v || mine !== asked) { return; }
          var hidden = {};
          (v.hidden || []).forEach(function (p) { hidden[p] = true; });
          Array.prototype.forEach.call(stepForm.querySelectorAll("[data-field]"), function (el) {
            var hide = hidden[el.getAttribute("data-field")] === true;
            if (el.hidden !== hide) { el.hidden = hide; }
          });
        })
        .catch(function () {});
    };
    var later = function () { clearTimeout(timer); timer = setTimeout(ask, 250); };
    stepForm.addEventListener("change", later);
    stepForm.addEventListener("input", later);
    // The questions this script showed were seen: a save does not call them new.
    stepForm.addEventListener("submit", function () {
      var seen = [];
      Array.prototype.forEach.call(stepForm.querySelectorAll("[data-field]"), function (el) {
        if (!el.hidden && !(el.parentElement && el.parentElement.closest("[hidden]"))) {
          seen.push(el.getAttribute("data-field"));
        }
      });
      var input = stepForm.querySelector('input[name="_seen"]');
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = "_seen";
        stepForm.appendChild(input);
      }
      input.value = seen.join("\n");
    });
  }

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
