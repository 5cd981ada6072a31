#!/usr/bin/env node
// Setup of the load benchmark (scripts/bench-load) against a running `blankett serve`: logs in
// as the development case worker through the test eID, starts <cases> LVU cases, and writes
// what scripts/bench/step.lua needs to <out>:
//   line 1: the Cookie header   line 2: the CSRF token   line 3: the step's form body
//   then one line per case: "<case id> <revision>"
// Usage: node scripts/bench/setup.mjs <base-url> <cases> <out-file>
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [base, count, out] = process.argv.slice(2);
if (!base || !count || !out) {
  console.error("usage: setup.mjs <base-url> <cases> <out-file>");
  process.exit(2);
}
const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const sample = JSON.parse(readFileSync(join(root, "flows/lvu-6/sample-answers.json"), "utf8"));
const cookies = new Map();

async function request(method, path, form) {
  const headers = { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") };
  let body;
  if (form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(form).toString();
  }
  const res = await fetch(new URL(path, base), { method, headers, body, redirect: "manual" });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(";");
    const i = pair.indexOf("=");
    cookies.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return { status: res.status, location: res.headers.get("location"), text: await res.text() };
}
const field = (html, name) => {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no ${name} field in the page`);
  return m[1];
};
async function follow(r) {
  for (let i = 0; i < 10 && r.location; i++) r = await request("GET", r.location);
  return r;
}

// Log in as the development case worker (Tolvan Tolvansson, a public test identity).
const login = await request("GET", "/login?next=/");
const started = await request("POST", "/login/start", { _csrf: field(login.text, "_csrf"), provider: "test", next: "/" });
if (!started.location?.startsWith("/test-eid/")) throw new Error(`login did not reach the test eID (${started.status})`);
const eid = await request("GET", started.location);
await follow(await request("POST", started.location, { _csrf: field(eid.text, "_csrf"), decision: "approve", personnummer: "197701172392" }));

const home = await request("GET", "/");
const csrf = field(home.text, "_csrf");
const lines = [];
for (let i = 0; i < Number(count); i++) {
  const r = await request("POST", "/e/lvu-6/start", { _csrf: csrf });
  const m = r.location && r.location.match(/^\/cases\/([^/]+)\/steps\//);
  if (!m) throw new Error(`starting case ${i} failed (${r.status} ${r.location})`);
  const step = await request("GET", r.location);
  lines.push(`${m[1]} ${field(step.text, "_revision")}`);
}
const body = new URLSearchParams({ ...sample.matter, _action: "next" }).toString();
const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
writeFileSync(out, [cookie, csrf, body, ...lines].join("\n") + "\n");
console.log(`setup: ${lines.length} cases started as the development case worker`);
