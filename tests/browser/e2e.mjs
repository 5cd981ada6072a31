#!/usr/bin/env node
// End-to-end browser test of the Blankett web UI.
//
//   node tests/browser/e2e.mjs sqlite               # temporary SQLite file
//   node tests/browser/e2e.mjs postgres             # fresh database on $BLANKETT_E2E_PG
//   node tests/browser/e2e.mjs --database-url URL   # an existing, empty database
//
// Starts target/debug/blankett serve on a free port with a temporary data dir, drives the
// whole LVU journey in headless Debian Chromium (/usr/bin/chromium, or $CHROMIUM), runs
// axe-core on the main pages, checks access control (404 / CSRF 403 / wrong signer 403),
// and validates the signed PDF with pyHanko against the development CA.
// Exit code 0 only when every check passed. No sleeps: it waits for the server's ready line,
// navigations and selectors.
import { spawn, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
// The answers typed into the steps ($BLANKETT_E2E_ANSWERS: another file of the same shape).
const answersFile = process.env.BLANKETT_E2E_ANSWERS || join(root, "flows/lvu-6/sample-answers.json");
const sample = JSON.parse(readFileSync(answersFile, "utf8"));

const CASE_WORKER = "197701172392";
const DECISION_MAKER = "189001019802";
const OUTSIDER = "201212121212";
const STEP_ORDER = ["matter", "child", "grounds", "placement", "decision"];
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

const started = Date.now();
const failures = [];
const passes = [];
let currentPhase = "setup";
function log(msg) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
}
function pass(msg) {
  passes.push(msg);
  log(`ok   ${msg}`);
}
function fail(msg) {
  failures.push(`${currentPhase}: ${msg}`);
  log(`FAIL ${msg}`);
}
function check(cond, msg, detail = "") {
  if (cond) pass(msg);
  else fail(detail ? `${msg} — ${detail}` : msg);
  return cond;
}
class Fatal extends Error {}
function must(cond, msg) {
  if (!cond) throw new Fatal(msg);
  pass(msg);
}

// ---------------------------------------------------------------- arguments and database
const args = process.argv.slice(2);
let mode = process.env.BLANKETT_E2E_DB || "sqlite";
let explicitUrl = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--database-url") explicitUrl = args[++i];
  else if (args[i] === "sqlite" || args[i] === "postgres") mode = args[i];
  else if (args[i] === "--help" || args[i] === "-h") {
    console.log("usage: e2e.mjs [sqlite|postgres] [--database-url URL]");
    process.exit(0);
  } else {
    console.error(`unknown argument ${args[i]}`);
    process.exit(2);
  }
}
const binary = process.env.BLANKETT_BIN || join(root, "target/debug/blankett");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const python = join(root, ".test-tools/venv/bin/python");
const work = mkdtempSync(join(tmpdir(), "blankett-e2e-"));
const dataDir = join(work, "data");
const keep = process.env.BLANKETT_E2E_KEEP === "1";

let databaseUrl;
let dropDb = null;
const pgBase = process.env.BLANKETT_E2E_PG || "postgres://postgres@127.0.0.1:5432";
if (explicitUrl) {
  databaseUrl = explicitUrl;
  mode = explicitUrl.startsWith("postgres") ? "postgres" : "sqlite";
} else if (mode === "postgres") {
  const name = `blankett_e2e_${randomBytes(6).toString("hex")}`;
  const u = new URL(pgBase);
  const pgArgs = ["-h", u.hostname, "-p", u.port || "5432", "-U", decodeURIComponent(u.username || "postgres")];
  try {
    execFileSync("createdb", [...pgArgs, name], { stdio: ["ignore", "inherit", "inherit"] });
  } catch (e) {
    console.error(`FAIL: cannot create a PostgreSQL database on ${pgBase} (is PostgreSQL running?)`);
    process.exit(1);
  }
  databaseUrl = `${pgBase.replace(/\/$/, "")}/${name}`;
  dropDb = () => {
    try {
      execFileSync("dropdb", [...pgArgs, "--force", name], { stdio: "inherit" });
    } catch (e) {
      console.error(`warning: could not drop database ${name}`);
    }
  };
} else {
  databaseUrl = `sqlite://${join(work, "blankett.db")}?mode=rwc`;
}
if (!existsSync(binary)) {
  console.error(`FAIL: ${binary} is missing; build it with cargo build -p blankett-cli`);
  process.exit(1);
}
if (!existsSync(chromiumPath)) {
  console.error(`FAIL: ${chromiumPath} is missing (apt-get install chromium)`);
  process.exit(1);
}

// ---------------------------------------------------------------- the server
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

// The project's own local BankID RP API server (engine/eid/examples/bankid_simulator.rs),
// with a control API to script users and faults.
const simulatorBin = process.env.BLANKETT_BANKID_SIMULATOR || join(dirname(binary), "examples/bankid_simulator");
let bankid = null;
let simulator = null;
async function startBankId() {
  if (!existsSync(simulatorBin)) throw new Fatal(`${simulatorBin} is missing; build it with cargo build -p blankett-eid --example bankid_simulator`);
  simulator = spawn(simulatorBin, [join(work, "bankid")], { stdio: ["ignore", "pipe", "pipe"] });
  simulator.stderr.on("data", () => {});
  return await new Promise((res, rej) => {
    let out = "";
    const timer = setTimeout(() => rej(new Fatal(`the BankID simulator did not start: ${out}`)), 30000);
    simulator.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        clearTimeout(timer);
        res(JSON.parse(line));
      }
    });
  });
}
async function control(pathAndQuery, method = "POST") {
  const r = await fetch(`${bankid.control}${pathAndQuery}`, { method });
  if (!r.ok) throw new Fatal(`BankID simulator ${pathAndQuery}: ${r.status}`);
  return method === "GET" ? await r.json() : await r.text();
}

let server = null;
let serverLog = "";
async function startServer() {
  const port = await freePort();
  server = spawn(binary, ["serve", "--database-url", databaseUrl, "--listen", `127.0.0.1:${port}`], {
    cwd: root,
    // Every person of the test logs in from 127.0.0.1: the per-address limit on eID starts
    // (tested on its own in engine/cli/tests/it/pages.rs) would stop the later journeys.
    env: {
      ...process.env,
      BLANKETT__DATA_DIR: dataDir,
      BLANKETT__LIMITS__EID_STARTS_PER_MINUTE: "1000",
      BLANKETT__EID__BANKID__URL: bankid.url,
      BLANKETT__EID__BANKID__SERVER_CA: `"${bankid.server_ca}"`,
      BLANKETT__EID__BANKID__CLIENT_CERT: `"${bankid.client_cert}"`,
      BLANKETT__EID__BANKID__CLIENT_KEY: `"${bankid.client_key}"`,
      BLANKETT__EID__BANKID__TIMEOUT_SECONDS: "20",
      BLANKETT__EID__BANKID__RETRY_DELAY_MS: "100",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stderr.on("data", (d) => (serverLog += d));
  return await new Promise((res, rej) => {
    let out = "";
    const timer = setTimeout(() => rej(new Fatal(`server did not print its ready line in 60 s:\n${out}\n${serverLog}`)), 60000);
    server.stdout.on("data", (d) => {
      out += d;
      serverLog += d;
      const m = out.match(/listens on (http:\/\/\S+?)\/? /);
      if (m) {
        clearTimeout(timer);
        res(m[1].replace(/\/$/, ""));
      }
    });
    server.on("exit", (code) => {
      clearTimeout(timer);
      rej(new Fatal(`server exited with ${code} before it was ready:\n${out}\n${serverLog}`));
    });
  });
}

// ---------------------------------------------------------------- browser helpers
let base;
const consoleProblems = [];

async function newSession(browser, who) {
  const context = await browser.newContext({ acceptDownloads: true, locale: "sv-SE" });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on("load", () => (activePage = page));
  activePage = page;
  page.setDefaultNavigationTimeout(60000);
  page.on("console", (m) => {
    // The status of a page's own response (404 page, 422 with errors; 409/429/503 on an eID
    // fault page) is not a script problem.
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of (404|422|409|429|503)/.test(m.text())) consoleProblems.push(`${who} ${page.url()}: console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleProblems.push(`${who} ${page.url()}: page error: ${e.message}`));
  return { context, page };
}

function path(page) {
  return new URL(page.url()).pathname;
}

async function clickAndWait(page, locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), locator.click()]);
}

async function axe(page, name) {
  await page.waitForLoadState("load");
  const present = await page.evaluate(() => typeof window.axe !== "undefined");
  if (!present) await page.evaluate(axeSource); // CDP evaluation: not subject to the page's CSP
  const result = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] }),
    AXE_TAGS,
  );
  const v = result.violations;
  if (v.length === 0) {
    pass(`axe: no WCAG 2.1 A/AA violations on ${name} (${path(page)})`);
    return;
  }
  const text = v
    .map(
      (x) =>
        `  [${x.impact}] ${x.id}: ${x.help}\n` +
        x.nodes.map((n) => `      ${n.target.join(" ")}  ${n.failureSummary.replace(/\n/g, " | ")}`).join("\n"),
    )
    .join("\n");
  fail(`axe: ${v.length} violation(s) on ${name} (${path(page)}):\n${text}`);
}

let axedTestEid = false;
// Logs in through the test eID, starting from a page that is the login page or a /test-eid page.
async function testEid(page, personnummer, decision = "approve") {
  if (path(page).startsWith("/eid/wait")) {
    // Without JavaScript the wait page links to the test eID.
    await clickAndWait(page, page.getByRole("link", { name: /test-e-legitimationen/i }));
  }
  must(path(page).startsWith("/test-eid/"), `test eID page reached (${path(page)})`);
  if (!axedTestEid) {
    axedTestEid = true;
    await axe(page, "test eID page");
  }
  const radio = page.getByLabel(`(${personnummer})`, { exact: false });
  await radio.check();
  const button = page.getByRole("button", { name: decision === "approve" ? "Godkänn" : "Avbryt", exact: true });
  await clickAndWait(page, button);
  // Back in the app, possibly through the wait page (its script polls and then moves on).
  if (path(page).startsWith("/eid/wait")) {
    await page.waitForURL((u) => !u.pathname.startsWith("/eid/wait"), { timeout: 30000 });
  }
}

async function login(page, personnummer, nextPath = "/") {
  await page.goto(`${base}/login?next=${encodeURIComponent(nextPath)}`);
  await clickAndWait(page, page.getByRole("button", { name: "Test-e-legitimation" }));
  await testEid(page, personnummer);
  await page.waitForLoadState("load");
  must(await page.getByRole("button", { name: "Logga ut" }).isVisible(), `logged in as ${personnummer}`);
}

async function logout(page) {
  await clickAndWait(page, page.getByRole("button", { name: "Logga ut" }));
  must(await page.getByRole("link", { name: "Logga in" }).isVisible(), "logged out");
}

async function csrfOf(page) {
  return await page.locator('input[name="_csrf"]').first().inputValue();
}

// Flattens {"a": {"b": 1}, "g": [{"x": 2}]} into [["a.b", 1], ["g.0.x", 2]].
function flatten(obj, prefix = "", out = []) {
  for (const [k, v] of Object.entries(obj)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (Array.isArray(v) && v.length && typeof v[0] === "object") v.forEach((item, i) => flatten(item, `${p}.${i}`, out));
    else if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, p, out);
    else out.push([p, v]);
  }
  return out;
}

// Fills the fields of one step that are on the page now; returns the names it could not find.
async function fillStep(page, answers) {
  const missing = [];
  // Choices first: they decide which other fields are shown.
  const entries = flatten(answers).sort(([, a], [, b]) => (typeof a === "string" ? 1 : 0) - (typeof b === "string" ? 1 : 0));
  for (const [name, value] of entries) {
    const els = page.locator(`[name="${name}"]`);
    const n = await els.count();
    if (n === 0) {
      missing.push(name);
      continue;
    }
    const first = els.first();
    // A question shown only for some answers is drawn hidden; the page's script shows it when
    // an answer above reveals it (after asking the server).
    if (!(await first.isVisible())) {
      await first.waitFor({ state: "visible", timeout: 3000 }).catch(() => {});
      if (!(await first.isVisible())) {
        missing.push(name);
        continue;
      }
    }
    const tag = await first.evaluate((e) => e.tagName.toLowerCase());
    const type = (await first.getAttribute("type")) || "";
    if (type === "radio" || type === "checkbox") {
      const wanted = (Array.isArray(value) ? value : [value]).map(String);
      for (let i = 0; i < n; i++) {
        const el = els.nth(i);
        const v = await el.getAttribute("value");
        const on = wanted.includes(v) || (typeof value === "boolean" && boolValue(v) === value);
        if (!(await labelOf(el))) fail(`option ${name}=${v} has no label`);
        if (type === "radio" && on) await el.check();
        if (type === "checkbox") await el.setChecked(on);
      }
    } else if (tag === "select") {
      await first.selectOption(String(value));
    } else {
      // Text-like inputs are filled through their visible label, as a person would.
      const label = await labelOf(first);
      if (!label) fail(`field ${name} has no label`);
      const byLabel = page.getByLabel(label, { exact: true });
      await ((await byLabel.count()) === 1 ? byLabel : first).fill(String(value));
    }
  }
  return missing;
}
function boolValue(v) {
  if (["true", "ja", "yes", "1"].includes(String(v).toLowerCase())) return true;
  if (["false", "nej", "no", "0"].includes(String(v).toLowerCase())) return false;
  return null;
}
async function labelOf(el) {
  return await el.evaluate((e) => {
    const l = e.labels && e.labels[0];
    if (!l) return "";
    const c = l.cloneNode(true);
    c.querySelectorAll(".optional").forEach((x) => x.remove());
    return c.textContent.trim();
  });
}

// The document's SHA-256 as the case page or signing page shows it (for hand-made posts).
async function signSha(context, caseId) {
  const r = await context.request.get(`${base}/cases/${caseId}`);
  const m = (await r.text()).match(/[0-9a-f]{64}/);
  return m ? m[0] : "0".repeat(64);
}

let activePage = null;

// ---------------------------------------------------------------- the journey
async function journey(browser) {
  const cw = await newSession(browser, "case-worker");
  const page = cw.page;

  currentPhase = "catalogue";
  await page.goto(`${base}/`);
  must((await page.locator("h1").innerText()).includes("E-tjänster"), "catalogue shows");
  await axe(page, "catalogue");

  // (b) CSRF: a form post without the token is refused.
  {
    const r = await cw.context.request.post(`${base}/e/lvu-6/start`, { form: {}, maxRedirects: 0 });
    check(r.status() === 403, "POST /e/lvu-6/start without CSRF token is refused with 403", `got ${r.status()}`);
    const r2 = await cw.context.request.post(`${base}/e/lvu-6/start`, { form: { _csrf: "forged" }, maxRedirects: 0 });
    check(r2.status() === 403, "POST /e/lvu-6/start with a forged CSRF token is refused with 403", `got ${r2.status()}`);
  }

  const card = page.locator(".card", { hasText: "6 § LVU" });
  await clickAndWait(page, card.getByRole("button", { name: "Starta" }));
  if (path(page).startsWith("/login")) {
    await axe(page, "login page");
    await clickAndWait(page, page.getByRole("button", { name: "Test-e-legitimation" }));
    await testEid(page, CASE_WORKER);
  }
  await page.waitForLoadState("load");
  if (!check(/^\/cases\/[^/]+\/steps\/matter$/.test(path(page)), "after the login that \"Starta\" asked for, the e-service starts",
    `landed on ${path(page)}; the person must press "Starta" again`)) {
    await clickAndWait(page, page.locator(".card", { hasText: "6 § LVU" }).getByRole("button", { name: "Starta" }));
  }
  must(/^\/cases\/[^/]+\/steps\/matter$/.test(path(page)), `first step page (${path(page)})`);
  const caseId = path(page).split("/")[2];
  log(`case id ${caseId}`);

  // (b) CSRF on a step post and on logout.
  {
    const r = await cw.context.request.post(`${base}/cases/${caseId}/steps/matter`, {
      form: { _action: "save", "committee": "x" }, maxRedirects: 0 });
    check(r.status() === 403, "step POST without CSRF token → 403", `got ${r.status()}`);
    const l = await cw.context.request.post(`${base}/logout`, { form: {}, maxRedirects: 0 });
    check(l.status() === 403, "POST /logout without CSRF token → 403", `got ${l.status()}`);
  }
  // A step with validation errors.
  currentPhase = "steps";
  await clickAndWait(page, page.getByRole("button", { name: "Spara och fortsätt" }));
  check(/\/steps\/matter$/.test(path(page)), "empty first step stays on the step");
  const summary = page.locator(".error-summary");
  check(await summary.isVisible(), "error summary shown for the empty first step");
  check((await page.locator('[aria-invalid="true"]').count()) >= 3, "required fields are marked aria-invalid");
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.className);
  check(String(focused).includes("error-summary"), "focus moves to the error summary", `focused: ${focused}`);
  // Each error link points to an existing element.
  for (const href of await summary.locator("a").evaluateAll((as) => as.map((a) => a.getAttribute("href")))) {
    const id = decodeURIComponent(href.slice(1));
    check((await page.locator(`[id="${id}"]`).count()) === 1, `error summary link ${href} has a target`);
  }
  await axe(page, "step page with validation errors");

  for (const step of STEP_ORDER) {
    must(path(page).endsWith(`/steps/${step}`), `on step ${step}`);
    const answers = sample[step];
    const wantedItems = {};
    for (const [k, v] of Object.entries(answers)) if (Array.isArray(v) && v.length && typeof v[0] === "object") wantedItems[k] = v.length;
    // Repeating groups: add items until there are as many as in the sample.
    for (const [group, count] of Object.entries(wantedItems)) {
      for (let guard = 0; guard < 5; guard++) {
        const have = await page.locator(`[name^="${group}."][name$=".name"]`).count();
        if (have >= count) break;
        await clickAndWait(page, page.getByRole("button", { name: /^Lägg till/ }));
      }
    }
    let missing = await fillStep(page, answers);
    let submits = 0;
    for (;;) {
      await clickAndWait(page, page.getByRole("button", { name: "Spara och fortsätt" }));
      submits++;
      if (!path(page).endsWith(`/steps/${step}`)) break;
      // Still here: questions that appear only after the answers above (no live show/hide),
      // or errors.
      const errors = await page.locator(".error-summary li").allInnerTexts();
      const notice = (await page.locator(".notice").allInnerTexts()).join(" ");
      const before = missing.length;
      missing = await fillStep(page, answers);
      if (before === 0 && errors.length === 0 && /Fler frågor har tillkommit/.test(notice)) {
        fail(`step ${step}: every question was already shown and answered, yet "Spara och fortsätt" stayed ` +
          `on the step with "${notice.trim()}"`);
      } else if (missing.length >= before) {
        throw new Fatal(`step ${step} does not accept the sample answers: ${errors.join("; ")} ${notice} ` +
          `(missing fields: ${missing.join(", ")})`);
      }
      if (submits >= 3) throw new Fatal(`step ${step}: still on the step after 3 submits`);
    }
    if (missing.length) fail(`step ${step}: no form field for ${missing.join(", ")}`);
    else pass(`step ${step} filled from ${answersFile.split("/").pop()} (${submits} submit(s))`);
  }

  currentPhase = "review";
  must(/\/cases\/[^/]+\/review$/.test(path(page)), `review page reached (${path(page)})`);
  must((await page.locator("h1").innerText()).includes("Kontrollera dina svar"), "review page heading");
  for (const text of [sample.matter.case_reference, sample.placement.placement_name, sample.decision.maker.name, sample.child.guardians[0].name]) {
    check((await page.locator("main").innerText()).includes(text), `review shows "${text}"`);
  }
  await axe(page, "review page");
  await clickAndWait(page, page.getByRole("button", { name: "Klar – till granskning" }));
  // The receipt: a copy of what was sent, as PDF, with the answers the review page showed.
  currentPhase = "receipt";
  {
    // The case worker who made the report goes on to approve it; the receipt is still there.
    if (path(page) !== `/cases/${caseId}/receipt`) await page.goto(`${base}/cases/${caseId}/receipt`);
    await axe(page, "receipt page");
    await fitsNarrow(page, "the receipt page");
    const link = page.getByRole("link", { name: /kopia av det du skickade/ });
    const res = await page.context().request.get(new URL(await link.getAttribute("href"), base).toString());
    check(res.status() === 200 && (res.headers()["content-type"] || "").startsWith("application/pdf"),
      "the receipt downloads as a PDF", `${res.status()} ${res.headers()["content-type"]}`);
    const file = join(work, "receipt.pdf");
    writeFileSync(file, await res.body());
    const text = execFileSync("pdftotext", [file, "-"]).toString();
    check(text.includes(sample.matter.case_reference) && text.includes(sample.placement.placement_name),
      "the receipt holds the answers that were sent", text.slice(0, 400));
  }
  await page.goto(`${base}/cases/${caseId}`);
  must(await page.getByRole("button", { name: "Godkänn och skapa dokumentet" }).isVisible(), "case page offers approval");
  await axe(page, "case page (submitted)");

  currentPhase = "inbox";
  await page.goto(`${base}/inbox`);
  check(await page.locator(`a[href*="${caseId}"]`).first().isVisible(), "the case is listed in the inbox");
  await axe(page, "inbox");

  currentPhase = "approve";
  await page.goto(`${base}/cases/${caseId}`);
  await clickAndWait(page, page.getByRole("button", { name: "Godkänn och skapa dokumentet" }));
  must(path(page).startsWith(`/cases/${caseId}`), `after approval on the case (${path(page)})`);
  if (path(page) === `/cases/${caseId}`) {
    await clickAndWait(page, page.getByRole("link", { name: /Granska och signera/ }));
  }

  currentPhase = "sign (case worker)";
  must(path(page) === `/cases/${caseId}/sign`, "signing page reached");
  must((await page.locator("h1").innerText()).includes("Granska och signera"), "signing page heading");
  const imgs = page.locator(".pages img");
  check((await imgs.count()) >= 1, "signing page shows page images");
  for (const img of await imgs.all()) {
    await img.scrollIntoViewIfNeeded();
    await page.waitForFunction((el) => el.complete, await img.elementHandle());
    check(await img.evaluate((el) => el.naturalWidth > 0), `page image ${await img.getAttribute("alt")} loads`);
  }
  await axe(page, "signing page");
  // The flow's sign text is shown on the signing page, with the digest.
  {
    const text = await page.locator("pre.sign-text").innerText();
    check(/Jag undertecknar/.test(text) && /Föredragande/.test(text) && /[0-9a-f]{64}/.test(text),
      "the signing page shows the flow's sign text, the role and the SHA-256", text);
  }
  await fitsNarrow(page, "the signing page");
  // BankID busy or down when the signature starts: a page that says so, the person still
  // logged in, "Försök igen" back to the signing page; the case is unchanged.
  for (const [fault, query, status, says] of [
    ["alreadyInProgress", "path=sign&status=400&code=alreadyInProgress", 409, /redan påbörjad/],
    ["maintenance", "path=sign&status=503&code=maintenance&times=3", 503, /Internt tekniskt fel/],
  ]) {
    await control(`/fail?${query}`);
    const [resp] = await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.getByRole("button", { name: /BankID på en annan enhet/ }).first().click(),
    ]);
    check(resp && resp.status() === status, `BankID ${fault} at the signing start: status ${status}`, `got ${resp && resp.status()}`);
    const main = await page.locator("main").innerText();
    check(says.test(main), `BankID ${fault}: BankID's own text is shown`, main);
    check(await page.getByRole("button", { name: "Logga ut" }).isVisible(), `BankID ${fault}: the person is still logged in`);
    await axe(page, `eID fault page (${fault})`);
    await clickAndWait(page, page.getByRole("link", { name: "Försök igen" }));
    check(path(page) === `/cases/${caseId}/sign`, `BankID ${fault}: "Försök igen" goes back to the signing page`, path(page));
  }
  {
    const sent = (await control("/requests", "GET")).filter((r) => r.path === "sign");
    const visible = sent.length ? Buffer.from(sent[sent.length - 1].body.userVisibleData, "base64").toString("utf8") : "";
    check(/Jag undertecknar/.test(visible) && /[0-9a-f]{64}/.test(visible),
      "BankID receives the flow's sign text with the SHA-256", visible);
  }
  await clickAndWait(page, page.getByRole("button", { name: "Signera med Test-e-legitimation" }));
  await testEid(page, CASE_WORKER);
  must(path(page) === `/cases/${caseId}`, `back on the case page after signing (${path(page)})`);
  check((await page.locator(".signers").innerText()).length > 0, "signature list shown");
  await axe(page, "case page (waiting for the decision maker)");
  // The signing request to the decision maker was written with the signature (the outbox);
  // in development the mailbox page shows it, and administrators see the outbox.
  currentPhase = "mailbox";
  await page.goto(`${base}/dev/mailbox`);
  {
    const html = await page.content();
    check(html.includes("elva@example.invalid") && html.includes("Du har ett dokument att skriva under"), "the development mailbox shows the signing request to the decision maker");
    check(!html.includes(DECISION_MAKER), "no personnummer in the messages");
  }
  await axe(page, "development mailbox");
  await page.goto(`${base}/outbox`);
  check(path(page) === "/outbox", "an administrator (case worker of every unit) reaches /outbox", path(page));
  await axe(page, "outbox (administrators)");
  currentPhase = "sign (case worker)";
  // (c) the case worker has signed; it is the decision maker's turn: the case worker may not sign again.
  {
    const r = await cw.context.request.post(`${base}/cases/${caseId}/sign/start`, {
      form: { _csrf: await csrfOf(page), provider: "test", sha256: await signSha(cw.context, caseId), _revision: "0" },
      maxRedirects: 0,
    });
    check(r.status() === 403, "case worker POST sign/start during the decision maker's turn → 403", `got ${r.status()}`);
    const g = await cw.context.request.get(`${base}/cases/${caseId}/sign`, { maxRedirects: 0 });
    check(g.status() === 403 || (g.status() >= 300 && g.status() < 400),
      "case worker GET /sign during the decision maker's turn is refused or redirected", `got ${g.status()}`);
  }
  await logout(page);

  // (a) not involved: 404 for the outsider, and no access without login.
  currentPhase = "access control";
  {
    const anon = await browser.newContext();
    const r = await anon.request.get(`${base}/cases/${caseId}`, { maxRedirects: 0 });
    check([302, 303, 307, 401, 403, 404].includes(r.status()) && !(await r.text()).includes(sample.matter.case_reference),
      "anonymous GET of the case page does not show the case", `got ${r.status()}`);
    const d = await anon.request.get(`${base}/cases/${caseId}/document`, { maxRedirects: 0 });
    check(d.status() !== 200, "anonymous GET of the document is refused", `got ${d.status()}`);
    await anon.close();
  }
  const out = await newSession(browser, "outsider");
  await login(out.page, OUTSIDER);
  for (const p of [`/cases/${caseId}`, `/cases/${caseId}/sign`, `/cases/${caseId}/document`, `/cases/${caseId}/steps/matter`, `/cases/${caseId}/review`]) {
    const r = await out.page.goto(`${base}${p}`);
    check(r.status() === 404, `outsider (${OUTSIDER}) GET ${p} → 404`, `got ${r.status()}`);
  }
  {
    const r = await out.page.goto(`${base}/inbox`);
    check([403, 404].includes(r.status()) || path(out.page) !== "/inbox", "a citizen cannot open the inbox", `got ${r.status()}`);
  }
  // (c) the wrong signer: the outsider posts the sign start while it is the decision maker's turn.
  {
    await out.page.goto(`${base}/my`);
    const token = await csrfOf(out.page);
    const r = await out.context.request.post(`${base}/cases/${caseId}/sign/start`, {
      form: { _csrf: token, provider: "test", sha256: "0".repeat(64), _revision: "0" },
      maxRedirects: 0,
    });
    // Not involved at all: 404 (as for every other case URL) or 403 are both a refusal.
    check([403, 404].includes(r.status()), `outsider POST /cases/${caseId}/sign/start is refused (403/404)`, `got ${r.status()}`);
    const r2 = await out.context.request.post(`${base}/cases/${caseId}/approve`, { form: { _csrf: token, _revision: "0" }, maxRedirects: 0 });
    check([403, 404].includes(r2.status()), `outsider POST /cases/${caseId}/approve is refused`, `got ${r2.status()}`);
  }
  await out.context.close();

  currentPhase = "sign (decision maker)";
  const dm = await newSession(browser, "decision-maker");
  await login(dm.page, DECISION_MAKER);
  await dm.page.goto(`${base}/my`);
  must((await dm.page.locator("h1").innerText()).includes("Mina sidor"), "My pages");
  check((await dm.page.locator("main").innerText()).includes("Väntar på din underskrift"), 'My pages has "Väntar på din underskrift"');
  await axe(dm.page, "My pages");
  // CSRF on the signing start too.
  {
    const r = await dm.context.request.post(`${base}/cases/${caseId}/sign/start`, { form: { provider: "test" }, maxRedirects: 0 });
    check(r.status() === 403, "sign start without CSRF token → 403", `got ${r.status()}`);
  }
  await clickAndWait(dm.page, dm.page.getByRole("link", { name: /Skriv under/ }).first());
  must(path(dm.page) === `/cases/${caseId}/sign`, `"Skriv under" leads to the signing page (${path(dm.page)})`);
  // (c) via the test eID: approving the order as another person must not sign.
  await clickAndWait(dm.page, dm.page.getByRole("button", { name: "Signera med Test-e-legitimation" }));
  await testEid(dm.page, OUTSIDER);
  await dm.page.waitForLoadState("load");
  const msg = await dm.page.locator(".notice, .error-summary, .error-message").allInnerTexts();
  check(msg.join(" ").trim().length > 0, "signing as the wrong test person shows a message", `page ${path(dm.page)}`);
  log(`message after wrong-person signing: ${msg.join(" / ").replace(/\s+/g, " ")}`);
  {
    const r = await dm.page.goto(`${base}/cases/${caseId}`);
    check(r.status() === 200, "decision maker sees the case page");
    const signers = await dm.page.locator(".signers").innerText();
    check(await dm.page.getByRole("link", { name: /Granska och signera/ }).isVisible(),
      "after the wrong-person attempt the decision maker still has to sign", signers.replace(/\s+/g, " "));
  }
  await dm.page.goto(`${base}/cases/${caseId}/sign`);
  await clickAndWait(dm.page, dm.page.getByRole("button", { name: "Signera med Test-e-legitimation" }));
  await testEid(dm.page, DECISION_MAKER);
  must(path(dm.page) === `/cases/${caseId}`, `back on the case page after the decision maker signed (${path(dm.page)})`);
  await axe(dm.page, "case page (signed)");
  await logout(dm.page);
  await dm.context.close();

  currentPhase = "download";
  await login(page, CASE_WORKER, `/cases/${caseId}`);
  await page.goto(`${base}/cases/${caseId}`);
  const link = page.getByRole("link", { name: "Ladda ner det undertecknade dokumentet (PDF)" });
  must(await link.isVisible(), "download link for the signed document");
  const href = await link.getAttribute("href");
  const res = await cw.context.request.get(new URL(href, base).toString());
  must(res.status() === 200, `GET ${href} → 200`);
  check(/lvu-6-beslut-/.test(res.headers()["content-disposition"] || ""),
    "the document downloads under the flow's document.filename", res.headers()["content-disposition"]);
  check((res.headers()["content-type"] || "").startsWith("application/pdf"), "document is served as application/pdf", res.headers()["content-type"]);
  const pdf = await res.body();
  must(pdf.subarray(0, 5).toString() === "%PDF-", "the download is a PDF");
  const pdfPath = join(work, "signed.pdf");
  writeFileSync(pdfPath, pdf);
  log(`signed PDF: ${pdf.length} bytes`);
  await cw.context.close();
  return pdfPath;
}

// ---------------------------------------------------------------- pyHanko
function validatePdf(pdfPath) {
  currentPhase = "pyHanko";
  const ca = join(dataDir, "dev-pki/ca.pem");
  must(existsSync(ca), "development CA exists");
  const report = JSON.parse(
    execFileSync(python, [join(root, "engine/pades/tests/support/pyhanko_report.py"), pdfPath, ca], { encoding: "utf8" }),
  );
  check(report.length === 2, "the PDF has 2 signatures", `found ${report.length}`);
  for (const s of report) {
    check(s.intact && s.valid && s.trusted && s.bottom_line,
      `signature ${s.field} (${s.signer}) intact, valid and trusted`, JSON.stringify(s));
  }
  const fields = report.map((s) => s.field).join(",");
  check(/Tolvan/.test(report[0]?.signer) && /Elva/.test(report[1]?.signer), "signed by Tolvan, then Elva", fields);
  // All embedded signatures including the document timestamp, each validated on its own.
  const all = JSON.parse(
    execFileSync(python, ["-c", `
import json, sys
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext
ca = load_cert_from_pemder(sys.argv[2])
ctx = ValidationContext(trust_roots=[ca], allow_fetching=False, revocation_mode="soft-fail")
out = []
with open(sys.argv[1], "rb") as f:
    r = PdfFileReader(f, strict=False)
    for s in r.embedded_signatures:
        ts = s.sig_object.get("/Type") == "/DocTimeStamp"
        st = validate_pdf_timestamp(s, validation_context=ctx) if ts else validate_pdf_signature(s, ctx)
        out.append({"field": s.field_name, "doc_timestamp": ts, "intact": bool(st.intact), "valid": bool(st.valid), "trusted": bool(st.trusted)})
print(json.dumps(out))
`, pdfPath, ca], { encoding: "utf8" }),
  );
  check(all.length === 3 && all.filter((s) => s.doc_timestamp).length === 1,
    "the PDF has 2 signatures and 1 document timestamp", JSON.stringify(all));
  for (const s of all) check(s.intact && s.valid && s.trusted, `pyHanko: ${s.field}${s.doc_timestamp ? " (document timestamp)" : ""} intact, valid, trusted`, JSON.stringify(s));
  // The pyHanko command line, as a service designer would run it.
  try {
    const cli = execFileSync(join(root, ".test-tools/venv/bin/pyhanko"),
      ["sign", "validate", "--pretty-print", "--trust-replace", "--trust", ca, pdfPath], { encoding: "utf8" });
    const valid = (cli.match(/The signature is judged VALID\./g) || []).length;
    const trusted = (cli.match(/The signer's certificate is trusted\./g) || []).length;
    check(valid === 2 && trusted === 2 && !/INVALID|not trusted|untrusted/i.test(cli),
      "pyhanko sign validate --pretty-print --trust-replace: both signatures VALID and trusted", cli);
  } catch (e) {
    fail(`pyhanko sign validate failed: ${e.stdout || e.message}`);
  }
}

// ---------------------------------------------------------------- the other shipped flows
// Each flow from its catalogue card to a signed PDF that pyHanko judges valid: the starter
// fills every step from the flow's sample answers, a case worker takes a citizen's case, fills
// the case worker's steps and approves, and every signer signs in turn with the test eID.
const FLOW_JOURNEYS = [
  { id: "avtal", card: "Avtal mellan kommunen", starter: CASE_WORKER, signers: [CASE_WORKER, DECISION_MAKER] },
  { id: "justering", card: "Justering av protokoll", starter: CASE_WORKER, signers: [CASE_WORKER, DECISION_MAKER, OUTSIDER] },
  { id: "arvode", card: "Arvodesanspråk", starter: DECISION_MAKER, signers: [DECISION_MAKER, CASE_WORKER], groupStep: ["meetings", "items"] },
];

// Enter in a text field of a step with a repeating group saves and goes on: no item goes.
// A removal says what went and can be undone.
async function enterKeepsItems(page, caseId, [step, group]) {
  currentPhase = `Enter on ${step}`;
  await page.goto(`${base}/cases/${caseId}/steps/${step}`);
  const before = await itemCount(page, group);
  must(before >= 2, `${step} has ${before} items`);
  const field = page.locator(`input[type=text][name^="${group}.0."]`).first();
  await field.focus();
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
  check(!path(page).endsWith(`/steps/${step}`) || (await page.locator(".error-summary").count()) > 0,
    "Enter saves and goes on", path(page));
  await page.goto(`${base}/cases/${caseId}/steps/${step}`);
  check((await itemCount(page, group)) === before, `Enter on ${step} keeps every item (${before})`);
  await clickAndWait(page, page.locator(`button[name="_action"][value="remove:${group}.0"]`));
  check((await itemCount(page, group)) === before - 1, "the remove button removes one item");
  const notice = (await page.locator(".notice").allInnerTexts()).join(" ");
  check(/togs bort/.test(notice), "a removal says what was removed", notice);
  await clickAndWait(page, page.getByRole("button", { name: /Ångra/ }));
  check((await itemCount(page, group)) === before, "Ångra puts the item back");
  await page.goto(`${base}/cases/${caseId}/review`);
}

// The number of items a repeating group has on the page (its fields are named group.N.field).
async function itemCount(page, group) {
  const names = await page.locator(`[name^="${group}."]`).evaluateAll((els) => els.map((e) => e.name));
  const re = new RegExp(`^${group.replace(/\./g, "\\.")}\\.(\\d+)\\.`);
  const indices = new Set(names.map((n) => n.match(re)?.[1]).filter((x) => x !== undefined));
  return indices.size;
}

// Fills the steps from `answers` until the page is no longer a step of the case.
async function fillSteps(page, answers, flowId) {
  for (let guard = 0; guard < 20 && /^\/cases\/[^/]+\/steps\//.test(path(page)); guard++) {
    const step = path(page).split("/")[4];
    const wanted = answers[step] || {};
    let left = 4;
    for (;;) {
      // Repeating groups shown now: add items until there are as many as in the sample. A
      // group an answer on this page reveals (live, through the page's script) gets its items
      // after that answer is given.
      const groups = Object.entries(wanted).filter(([, v]) => Array.isArray(v) && v.length && typeof v[0] === "object");
      const addOf = (group) => page.locator(`button[name="_action"][value="add:${group}"]`);
      const short = async ([group, v]) => (await itemCount(page, group)) < v.length && (await addOf(group).count()) > 0 && (await addOf(group).first().isVisible());
      for (let round = 0; round < 4; round++) {
        for (const g of groups) {
          for (let i = 0; i < 60 && (await short(g)); i++) await clickAndWait(page, addOf(g[0]));
        }
        await fillStep(page, wanted);
        let more = false;
        for (const g of groups) {
          // The script may still be asking whether the answers reveal the group.
          if ((await itemCount(page, g[0])) < g[1].length && (await addOf(g[0]).count()) > 0) {
            await addOf(g[0]).first().waitFor({ state: "visible", timeout: 3000 }).catch(() => {});
          }
          if (await short(g)) more = true;
        }
        if (!more) break;
      }
      if (flowId === "arvode" && step === "earnings" && left === 4) await attachCertificate(page);
      await clickAndWait(page, page.getByRole("button", { name: "Spara och fortsätt" }));
      if (!path(page).endsWith(`/steps/${step}`)) break;
      if (--left === 0) {
        const errors = await page.locator(".error-summary li").allInnerTexts();
        throw new Fatal(`${flowId}: step ${step} does not accept the sample answers: ${errors.join("; ")}`);
      }
    }
    pass(`${flowId}: step ${step} filled from the sample answers`);
  }
}

// The fee claim's file field, in a real browser without help from script: a text file named
// .pdf is refused by its content with the field's error while the other answers stay; a PDF
// is then taken, and the review page links to it by name.
const SMALL_PDF = Buffer.from("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
async function attachCertificate(page) {
  const input = page.locator('input[type="file"][name="certificate_file"]');
  must((await input.count()) === 1, "arvode: the earnings step has a file input");
  must(await input.isVisible(), "arvode: the file input is shown once a loss is claimed");
  const form = page.locator("main form").first();
  check((await form.getAttribute("enctype")) === "multipart/form-data", "arvode: the step with a file is a multipart form");
  const typed = await page.locator('[name="items.0.hourly_loss"]').inputValue();
  await input.setInputFiles({ name: "intyg.pdf", mimeType: "application/pdf", buffer: Buffer.from("Detta är ingen PDF.\n") });
  await clickAndWait(page, page.getByRole("button", { name: "Spara och fortsätt" }));
  const errors = (await page.locator(".error-summary li").allInnerTexts()).join("; ");
  check(/inte av en typ som tas emot/.test(errors), "arvode: a text file named .pdf is refused by its content", errors);
  // The same number, shown back with the decimal comma Swedes write.
  const kept = await page.locator('[name="items.0.hourly_loss"]').inputValue();
  check(typed !== "" && kept.replace(",", ".") === typed.replace(",", "."), "arvode: the other answers stay after a refused file", `${typed} -> ${kept}`);
  await axe(page, "arvode step with a refused file");
  await fitsNarrow(page, "arvode step with a file field");
  await page.locator('input[type="file"][name="certificate_file"]').setInputFiles({ name: "Intyg löneavdrag.pdf", mimeType: "application/pdf", buffer: SMALL_PDF });
}

async function flowJourney(browser, f) {
  currentPhase = `${f.id}: start`;
  const answers = JSON.parse(readFileSync(join(root, `flows/${f.id}/sample-answers.json`), "utf8"));
  const starter = await newSession(browser, `${f.id} starter`);
  await login(starter.page, f.starter);
  await starter.page.goto(`${base}/`);
  await clickAndWait(starter.page, starter.page.locator(".card", { hasText: f.card }).getByRole("button", { name: "Starta" }));
  must(/^\/cases\/[^/]+\/steps\//.test(path(starter.page)), `${f.id}: the first step opens (${path(starter.page)})`);
  const caseId = path(starter.page).split("/")[2];
  await fillSteps(starter.page, answers, f.id);
  must(/\/review$/.test(path(starter.page)), `${f.id}: review reached (${path(starter.page)})`);
  if (f.id === "arvode") {
    const fileLink = starter.page.getByRole("link", { name: "Intyg löneavdrag.pdf" });
    check((await fileLink.count()) === 1, "arvode: the review page links to the uploaded file by name");
    if (await fileLink.count()) {
      const got = await starter.context.request.get(new URL(await fileLink.getAttribute("href"), base).toString());
      check(got.status() === 200 && Buffer.compare(await got.body(), SMALL_PDF) === 0, "arvode: the uploaded file downloads as it was sent", `${got.status()}`);
    }
  }
  if (f.groupStep) await enterKeepsItems(starter.page, caseId, f.groupStep);
  await axe(starter.page, `${f.id} review page`);
  await clickAndWait(starter.page, starter.page.locator("main form button[type=submit].button").first());

  // The case worker: takes a citizen's case, fills the case worker's steps, approves.
  currentPhase = `${f.id}: case worker`;
  let cw = starter;
  if (f.starter !== CASE_WORKER) {
    await logout(starter.page);
    await starter.context.close();
    cw = await newSession(browser, `${f.id} case worker`);
    await login(cw.page, CASE_WORKER);
  }
  await cw.page.goto(`${base}/cases/${caseId}`);
  const assign = cw.page.getByRole("button", { name: "Tilldela mig" });
  if (await assign.count()) await clickAndWait(cw.page, assign);
  const fill = cw.page.getByRole("link", { name: /Fyll i uppgifter|Fortsätt med ärendet/ });
  if (await fill.count()) {
    await clickAndWait(cw.page, fill.first());
    await fillSteps(cw.page, answers, f.id);
    await cw.page.goto(`${base}/cases/${caseId}`);
  }
  await axe(cw.page, `${f.id} case page before approval`);
  await clickAndWait(cw.page, cw.page.getByRole("button", { name: "Godkänn och skapa dokumentet" }));
  must(path(cw.page).startsWith(`/cases/${caseId}`), `${f.id}: approved (${path(cw.page)})`);
  await logout(cw.page);

  // Every signer in turn, each in their own browser session.
  for (const [i, who] of f.signers.entries()) {
    currentPhase = `${f.id}: signer ${i + 1} (${who})`;
    const s = await newSession(browser, `${f.id} signer ${i + 1}`);
    await login(s.page, who);
    await s.page.goto(`${base}/cases/${caseId}/sign`);
    must(path(s.page) === `/cases/${caseId}/sign`, `${f.id}: signer ${i + 1} reaches the signing page (${path(s.page)})`);
    await clickAndWait(s.page, s.page.getByRole("button", { name: "Signera med Test-e-legitimation" }));
    await testEid(s.page, who);
    must(path(s.page) === `/cases/${caseId}`, `${f.id}: signer ${i + 1} back on the case page (${path(s.page)})`);
    await s.context.close();
  }

  currentPhase = `${f.id}: download`;
  const dl = await newSession(browser, `${f.id} download`);
  await login(dl.page, CASE_WORKER, `/cases/${caseId}`);
  await dl.page.goto(`${base}/cases/${caseId}`);
  const link = dl.page.getByRole("link", { name: "Ladda ner det undertecknade dokumentet (PDF)" });
  must(await link.isVisible(), `${f.id}: download link for the signed document`);
  const res = await dl.context.request.get(new URL(await link.getAttribute("href"), base).toString());
  must(res.status() === 200, `${f.id}: the signed document downloads`);
  const pdfPath = join(work, `${f.id}.pdf`);
  writeFileSync(pdfPath, await res.body());
  await dl.context.close();

  currentPhase = `${f.id}: pyHanko`;
  const report = JSON.parse(execFileSync(python,
    [join(root, "engine/pades/tests/support/pyhanko_report.py"), pdfPath, join(dataDir, "dev-pki/ca.pem")], { encoding: "utf8" }));
  check(report.length === f.signers.length, `${f.id}: the PDF has ${f.signers.length} signatures`, `found ${report.length}`);
  for (const sig of report) {
    check(sig.intact && sig.valid && sig.trusted && sig.bottom_line, `${f.id}: signature ${sig.field} intact, valid and trusted`, JSON.stringify(sig));
  }
}

// Pattern 1, a document made elsewhere (`flows/signera`): the case worker uploads a 3-page
// PDF/A-2b, lists three signers (themselves and two citizens with e-mail) to sign in any
// order, and approves; the citizens find it under "Väntar på din underskrift" and sign in
// reverse order, the case worker last; each request reached its own address in the
// development mailbox; the signed PDF has three signatures pyHanko trusts, the original pages
// read as uploaded, and the XMP still says PDF/A-2B.
async function signeraJourney(browser) {
  currentPhase = "signera: upload";
  const original = readFileSync(join(root, "flows/signera/exempel.pdf"));
  const people = [
    { pnr: CASE_WORKER, name: "Tolvan Tolvansson", email: "tolvan.signera@example.invalid" },
    { pnr: DECISION_MAKER, name: "Elva Elvasson", email: "elva.signera@example.invalid" },
    { pnr: OUTSIDER, name: "Tolva Tolvansson", email: "tolva.signera@example.invalid" },
  ];
  const cw = await newSession(browser, "signera case worker");
  await login(cw.page, CASE_WORKER);
  await cw.page.goto(`${base}/`);
  await clickAndWait(cw.page, cw.page.locator(".card", { hasText: "Signera ett dokument" }).getByRole("button", { name: "Starta" }));
  must(/\/steps\/upload$/.test(path(cw.page)), `signera: the upload step opens (${path(cw.page)})`);
  const caseId = path(cw.page).split("/")[2];
  await axe(cw.page, "signera upload step");
  await fitsNarrow(cw.page, "signera upload step");
  // A file that is not a PDF/A is refused on the field, in words.
  await cw.page.getByLabel("Dokumentets titel", { exact: true }).fill("Protokoll, kommunstyrelsen 24 november 2026");
  await cw.page.locator('input[type="file"][name="file"]').setInputFiles({ name: "vanlig.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n") });
  await clickAndWait(cw.page, cw.page.getByRole("button", { name: "Spara och fortsätt" }));
  const refused = (await cw.page.locator(".error-summary li").allInnerTexts()).join("; ");
  check(/inte PDF\/A|skadad/.test(refused), "signera: a PDF that is not PDF/A (or not whole) is refused with the reason", refused);
  check((await cw.page.getByLabel("Dokumentets titel", { exact: true }).inputValue()).startsWith("Protokoll"), "signera: the title typed stays after a refused file");
  await axe(cw.page, "signera upload step with a refused file");
  await cw.page.locator('input[type="file"][name="file"]').setInputFiles({ name: "exempel.pdf", mimeType: "application/pdf", buffer: original });
  await cw.page.getByLabel("Meddelande till undertecknarna (frivilligt)", { exact: true }).fill("Protokollet för justering.");
  await clickAndWait(cw.page, cw.page.getByRole("button", { name: "Spara och fortsätt" }));
  must(/\/steps\/signatories$/.test(path(cw.page)), `signera: on to the signers (${path(cw.page)})`);

  currentPhase = "signera: signers";
  const answers = { signatories: { list: people.map((p) => ({ name: p.name, personnummer: p.pnr, email: p.email })), order: "any" } };
  await fillSteps(cw.page, answers, "signera");
  must(/\/review$/.test(path(cw.page)), `signera: review reached (${path(cw.page)})`);
  check((await cw.page.getByRole("link", { name: "exempel.pdf" }).count()) === 1, "signera: the review page links to the uploaded PDF");
  await axe(cw.page, "signera review page");
  await clickAndWait(cw.page, cw.page.locator("main form button[type=submit].button").first());
  await cw.page.goto(`${base}/cases/${caseId}`);
  await clickAndWait(cw.page, cw.page.getByRole("button", { name: "Godkänn och skapa dokumentet" }));
  must(path(cw.page).startsWith(`/cases/${caseId}`), `signera: approved (${path(cw.page)})`);

  currentPhase = "signera: mailbox";
  await cw.page.goto(`${base}/dev/mailbox`);
  {
    const html = await cw.page.content();
    for (const p of people) check(html.includes(p.email), `signera: the signing request reached ${p.email} at once`);
  }

  // The citizens, in reverse order.
  for (const who of [OUTSIDER, DECISION_MAKER]) {
    currentPhase = `signera: signer ${who}`;
    const s = await newSession(browser, `signera signer ${who}`);
    await login(s.page, who, "/my");
    await s.page.goto(`${base}/my`);
    const waiting = s.page.locator("table.cases", { has: s.page.locator("caption", { hasText: "Väntar på din underskrift" }) });
    check((await waiting.locator(`a[href*="${caseId}"]`).count()) > 0, `signera: ${who} finds the document under "Väntar på din underskrift"`);
    await axe(s.page, `My pages of a signer (${who})`);
    await s.page.goto(`${base}/cases/${caseId}/sign`);
    must(path(s.page) === `/cases/${caseId}/sign`, `signera: ${who} reaches the signing page (${path(s.page)})`);
    await axe(s.page, `signera signing page (${who})`);
    await clickAndWait(s.page, s.page.getByRole("button", { name: "Signera med Test-e-legitimation" }));
    await testEid(s.page, who);
    must(path(s.page) === `/cases/${caseId}`, `signera: ${who} back on the case page (${path(s.page)})`);
    await s.context.close();
  }
  currentPhase = "signera: the case worker signs last";
  await cw.page.goto(`${base}/cases/${caseId}/sign`);
  await clickAndWait(cw.page, cw.page.getByRole("button", { name: "Signera med Test-e-legitimation" }));
  await testEid(cw.page, CASE_WORKER);
  must(path(cw.page) === `/cases/${caseId}`, `signera: the case worker back on the case page (${path(cw.page)})`);
  await cw.page.goto(`${base}/dev/mailbox`);
  check((await cw.page.content()).includes("klart och underskrivet"), "signera: the mailbox holds the completion message to the creator");

  currentPhase = "signera: the signed PDF";
  const link = cw.page.getByRole("link", { name: "Ladda ner det undertecknade dokumentet (PDF)" });
  await cw.page.goto(`${base}/cases/${caseId}`);
  must(await link.isVisible(), "signera: download link for the signed document");
  const res = await cw.context.request.get(new URL(await link.getAttribute("href"), base).toString());
  const pdf = await res.body();
  const signedPath = join(work, "signera.pdf");
  const originalPath = join(work, "signera-original.pdf");
  writeFileSync(signedPath, pdf);
  writeFileSync(originalPath, original);
  await cw.context.close();
  check(pdf.subarray(0, original.length).equals(original), "signera: the uploaded bytes are the first bytes of the signed PDF");
  const pages = (f) => Number(/Pages:\s+(\d+)/.exec(execFileSync("pdfinfo", [f], { encoding: "utf8" }))[1]);
  check(pages(signedPath) === 4, "signera: one page (the signature page) was added", `${pages(signedPath)} pages`);
  for (const n of [1, 2, 3]) {
    const text = (f) => execFileSync("pdftotext", ["-f", String(n), "-l", String(n), "-layout", f, "-"], { encoding: "utf8" });
    check(text(signedPath) === text(originalPath), `signera: page ${n} reads as uploaded`);
  }
  const raw = pdf.toString("latin1");
  check(raw.includes("<pdfaid:part>2</pdfaid:part>") && raw.includes("<pdfaid:conformance>B</pdfaid:conformance>"), "signera: the XMP still says PDF/A-2B");
  const report = JSON.parse(execFileSync(python,
    [join(root, "engine/pades/tests/support/pyhanko_report.py"), signedPath, join(dataDir, "dev-pki/ca.pem")], { encoding: "utf8" }));
  check(report.length === 3, "signera: the PDF has 3 signatures", `found ${report.length}`);
  for (const sig of report) {
    check(sig.intact && sig.valid && sig.trusted && sig.bottom_line, `signera: signature ${sig.field} intact, valid and trusted`, JSON.stringify(sig));
  }
}

// The page, at 320 px wide, has no sideways scrolling (WCAG 1.4.10 Reflow); the viewport is
// put back afterwards.
async function fitsNarrow(page, what) {
  const size = page.viewportSize();
  await page.setViewportSize({ width: 320, height: 640 });
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  check(w <= 321, `${what} fits 320 px without sideways scrolling`, `${w} px wide`);
  if (size) await page.setViewportSize(size);
}

// ---------------------------------------------------------------- the paths that are not perfect
async function bankIdLogin(page) {
  await page.goto(`${base}/login?next=%2Fmy`);
  const clicked = Date.now();
  await clickAndWait(page, page.getByRole("button", { name: /BankID på en annan enhet/ }));
  return Date.now() - clicked;
}

async function personChecks(browser) {
  // Login failures say why: the test eID's "Avbryt", BankID's userCancel and expiry.
  currentPhase = "login failures";
  {
    const s = await newSession(browser, "cancel");
    await s.page.goto(`${base}/login?next=%2Fmy`);
    await clickAndWait(s.page, s.page.getByRole("button", { name: "Test-e-legitimation" }));
    await testEid(s.page, CASE_WORKER, "cancel");
    await s.page.waitForLoadState("load");
    check(path(s.page) === "/login" && /Åtgärden avbruten/.test(await s.page.locator("main").innerText()),
      "the test eID's Avbryt: back on the login page with a message", path(s.page));
    for (const [code, says] of [["userCancel", /Åtgärden avbruten/], ["expiredTransaction", /BankID-appen svarar inte/], ["startFailed", /BankID-appen|QR-koden/], ["certificateErr", /för gammalt eller spärrat/]]) {
      await control(`/script?pending=outstandingTransaction&outcome=${code}`);
      await bankIdLogin(s.page);
      await s.page.waitForURL((u) => u.pathname === "/login", { timeout: 30000 });
      await s.page.waitForLoadState("load");
      const main = await s.page.locator("main").innerText();
      check(says.test(main), `BankID ${code} at login: the login page says why`, main);
    }
    // "Avbryt" on the waiting page: the order is cancelled and the login page says so.
    await control("/script?pending=outstandingTransaction,outstandingTransaction,outstandingTransaction,outstandingTransaction,outstandingTransaction,outstandingTransaction&outcome=userCancel");
    await bankIdLogin(s.page);
    check(path(s.page) === "/eid/wait", "the waiting page opens", path(s.page));
    await clickAndWait(s.page, s.page.getByRole("button", { name: "Avbryt" }));
    await s.page.waitForURL((u) => u.pathname === "/login", { timeout: 30000 });
    check(/avbr/i.test(await s.page.locator("main").innerText()), "Avbryt on the waiting page: the login page says the login was cancelled",
      await s.page.locator("main").innerText());
    await s.context.close();
  }

  // A slow BankID: the waiting page shows at once, and the approval is picked up.
  currentPhase = "slow BankID";
  {
    await control("/script?pending=started,userSign&outcome=complete");
    await control("/delay?path=collect&ms=15000");
    const s = await newSession(browser, "slow");
    const took = await bankIdLogin(s.page);
    check(path(s.page) === "/eid/wait", "the waiting page opens", path(s.page));
    check(took < 8000, `the waiting page appears at once with a 15 s collect (${took} ms)`);
    await s.page.waitForURL((u) => u.pathname === "/my", { timeout: 60000 });
    check(await s.page.getByRole("button", { name: "Logga ut" }).isVisible(), "the slow approval is picked up: logged in");
    await s.context.close();
  }

  // Live show/hide: a choice reveals its question without a page load, decided by the server.
  currentPhase = "live show/hide";
  {
    const s = await newSession(browser, "show-hide");
    await login(s.page, CASE_WORKER);
    await s.page.goto(`${base}/`);
    await clickAndWait(s.page, s.page.locator(".card", { hasText: "6 § LVU" }).getByRole("button", { name: "Starta" }));
    const caseId = path(s.page).split("/")[2];
    await s.page.goto(`${base}/cases/${caseId}/steps/grounds`);
    const behaviour = s.page.locator('[data-field="behaviour"]');
    check(!(await behaviour.isVisible()), "a question for another answer is not shown");
    const url = s.page.url();
    await s.page.locator('input[name="grounds"][value="3"]').check();
    await behaviour.waitFor({ state: "visible", timeout: 10000 });
    check(s.page.url() === url, "checking a ground shows its question without a page load");
    await s.page.locator('input[name="grounds"][value="3"]').uncheck();
    await behaviour.waitFor({ state: "hidden", timeout: 10000 });
    pass("unchecking it hides the question again");
    // Without JavaScript: focus goes to the error summary, and a radio group in error is
    // marked aria-invalid.
    const nojs = await browser.newContext({ javaScriptEnabled: false, locale: "sv-SE", storageState: await s.context.storageState() });
    const p = await nojs.newPage();
    await p.goto(`${base}/cases/${caseId}/steps/placement`);
    await Promise.all([p.waitForNavigation({ waitUntil: "load" }), p.getByRole("button", { name: "Spara och fortsätt" }).click()]);
    const focused = await p.evaluate(() => document.activeElement && document.activeElement.className);
    check(String(focused).includes("error-summary"), "without JavaScript, focus is on the error summary", `focused: ${focused}`);
    check((await p.locator('input[type=radio][aria-invalid="true"]').count()) > 0, "a radio group in error is aria-invalid");
    await nojs.close();

    // Every page type fits a 320 px screen (WCAG 1.4.10).
    currentPhase = "320 px";
    const narrow = await browser.newContext({ viewport: { width: 320, height: 640 }, locale: "sv-SE", storageState: await s.context.storageState() });
    const n = await narrow.newPage();
    for (const p2 of ["/", "/my", "/inbox", `/cases/${caseId}`, `/cases/${caseId}/steps/matter`, `/cases/${caseId}/steps/child`, `/cases/${caseId}/review`, "/login", "/no-such-page", "/outbox"]) {
      await n.goto(`${base}${p2}`);
      const w = await n.evaluate(() => document.documentElement.scrollWidth);
      check(w <= 321, `${p2} fits 320 px without sideways scrolling`, `${w} px wide`);
    }
    await narrow.close();
    await s.context.close();
  }
}

// ---------------------------------------------------------------- main
let browser = null;
let code = 1;
try {
  log(`database: ${mode} (${databaseUrl.replace(/\/\/[^@/]*@/, "//…@")}); work dir ${work}`);
  bankid = await startBankId();
  pass(`local BankID server at ${bankid.url}`);
  base = await startServer();
  pass(`server ready at ${base}`);
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true });
  const pdfPath = await journey(browser);
  validatePdf(pdfPath);
  for (const f of FLOW_JOURNEYS) await flowJourney(browser, f);
  await signeraJourney(browser);
  await personChecks(browser);
  currentPhase = "browser console";
  check(consoleProblems.length === 0, "no console errors or page errors", consoleProblems.join("\n"));
  code = failures.length ? 1 : 0;
} catch (e) {
  failures.push(`${currentPhase}: ${e instanceof Fatal ? e.message : e.stack || e}`);
  if (activePage && !activePage.isClosed()) {
    const f = join(work, "failure.html");
    try {
      writeFileSync(f, await activePage.content());
      await activePage.screenshot({ path: join(work, "failure.png"), fullPage: true });
      log(`page at the failure: ${activePage.url()} (saved to ${f}; set BLANKETT_E2E_KEEP=1 to keep it)`);
    } catch {}
  }
  log(`FATAL ${e instanceof Fatal ? e.message : e.stack || e}`);
  code = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  if (simulator && simulator.exitCode === null) simulator.kill("SIGTERM");
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
  }
  if (code !== 0) {
    console.log("\n--- server log (last 40 lines) ---");
    console.log(serverLog.trim().split("\n").slice(-40).join("\n"));
  }
  if (dropDb) dropDb();
  if (!keep) rmSync(work, { recursive: true, force: true });
  else log(`kept ${work}`);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\n${mode}: ${passes.length} checks passed, ${failures.length} failed, ${secs} s`);
  for (const f of failures) console.log(`FAIL ${f}`);
  process.exit(code);
}
