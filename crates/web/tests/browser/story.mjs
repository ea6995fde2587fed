// The two-device story in a real browser (the system's headless Chromium,
// driven by playwright-core), by label and role as a person drives it, with
// axe-core on every screen and a screenshot of each.
//
// Run by `apps/cli/tests/e2e/ui.rs` in three phases (the test stops and
// restarts the relay between them):
//   node story.mjs setup    SAM_URL ALEX_URL STATE_DIR
//   node story.mjs offline  SAM_URL ALEX_URL STATE_DIR
//   node story.mjs online   SAM_URL ALEX_URL STATE_DIR
//   node story.mjs archive  ARCHIVE_DIR ALEX_URL STATE_DIR (Sam's export --all)
// Figures (time from click to updated page, remote change to visible) go to
// STATE_DIR/figures.json.

import { chromium } from "playwright-core";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const [phase, SAM_URL, ALEX_URL, STATE] = process.argv.slice(2);
const SHOTS = process.env.SCREENSHOTS || path.join(STATE, "screenshots");
mkdirSync(SHOTS, { recursive: true });
const stateFile = path.join(STATE, "state.json");
const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : {};
const figuresFile = path.join(STATE, "figures.json");
const figures = existsSync(figuresFile) ? JSON.parse(readFileSync(figuresFile, "utf8")) : {};

function fail(message) {
  throw new Error(message);
}

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

// A person's browser: the launch link traded for a session cookie. CSP is
// bypassed only so axe-core can be injected for the checks.
async function person(browser, url, width = 1280) {
  const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => fail(`script error on ${page.url()}: ${e.message}`));
  await page.goto(url);
  return page;
}

// axe-core on the page: no violations of WCAG 2.0, 2.1 and 2.2 A and AA.
async function check(page, name) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] } }));
  const violations = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  if (violations.length) {
    fail(`${name}: axe-core found\n  ${violations.join("\n  ")}`);
  }
  // Nothing overflows sideways (320 px wide, or 1280 px at 400% zoom).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) {
    const culprit = await page.evaluate(() => {
      let worst = null;
      for (const el of document.querySelectorAll("main *")) {
        const r = el.getBoundingClientRect();
        if (r.right > window.innerWidth + 1 && (!worst || r.width < worst.w)) {
          worst = { w: r.width, what: el.tagName + "." + el.className + " " + (el.textContent || "").slice(0, 40) };
        }
      }
      return worst && worst.what;
    });
    fail(`${name}: the page is ${overflow}px wider than the window (${culprit})`);
  }
  // A date field shows all of its value.
  const clipped = await page.evaluate(() => [...document.querySelectorAll("input[type=date]")]
    .filter((el) => el.getBoundingClientRect().width < 150).map((el) => el.id));
  if (clipped.length) fail(`${name}: date fields too narrow for their value: ${clipped.join(", ")}`);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// Waits until `test` holds on the page, or fails saying what was awaited.
async function until(page, test, what, timeout = 20000) {
  await page.waitForFunction(test, null, { timeout }).catch(async () => {
    const text = (await page.locator("main").innerText().catch(() => "")).slice(0, 600);
    fail(`waited ${timeout} ms for ${what} on ${page.url()}; the page said:\n${text}`);
  });
}

// Times a click until the page that follows has loaded.
async function timed(page, name, act) {
  const t0 = Date.now();
  await Promise.all([page.waitForLoadState("load"), act()]);
  await page.waitForLoadState("load");
  const ms = Date.now() - t0;
  (figures[name] ||= []).push(ms);
  return ms;
}

async function setup() {
  const browser = await launch();
  const sam = await person(browser, SAM_URL);
  await check(sam, "01-setup");
  await sam.getByLabel("Your name", { exact: true }).fill("Sam");
  await sam.getByRole("button", { name: "Continue" }).click();
  // The recovery code, shown once on setting up.
  await sam.waitForLoadState("load");
  const first = (await sam.locator(".recovery-code").innerText()).trim();
  if (!/^([0-9A-Z]{4}-){6}[0-9A-Z]{3}$/.test(first)) fail(`setting up showed no recovery code: ${first}`);
  await check(sam, "32-first-recovery-code");
  await sam.getByRole("link", { name: "Start a journal", exact: true }).first().click();
  await check(sam, "02-new-journal");
  await sam.getByLabel("Relay").fill(process.env.RELAY);
  await sam.getByRole("button", { name: "Start the journal" }).click();
  await sam.getByText("Start a new reading").click();
  await sam.getByLabel("Date").fill("2026-11-23");
  await sam.getByRole("button", { name: "Start the reading" }).click();
  await check(sam, "03-reading-empty");
  state.journal = new URL(sam.url()).pathname.split("/r/")[0];
  state.reading = new URL(sam.url()).pathname;
  await sam.goto(new URL(state.journal + "/share", sam.url()).href);
  await check(sam, "04-share");
  await sam.getByLabel("Their name").fill("Alex <b>coordinator</b>");
  await sam.getByRole("button", { name: "Create the invite link" }).click();
  const link = (await sam.locator(".link-box").innerText()).trim();
  if (!link.startsWith("starling://invite/")) fail(`no link: ${link}`);
  await check(sam, "05-invite-link");
  // Copy the link: the clipboard holds it whole, and the page says so.
  await sam.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await sam.getByRole("button", { name: "Copy the link" }).click();
  await until(sam, () => document.getElementById("live").textContent.includes("The link is copied"), "the page to say the link is copied");
  const copied = await sam.evaluate(() => navigator.clipboard.readText());
  if (copied !== link) fail(`the clipboard holds ${JSON.stringify(copied)}, not the link`);

  const alex = await person(browser, ALEX_URL);
  await alex.getByLabel("Your name", { exact: true }).fill("Alex");
  await alex.getByRole("button", { name: "Continue" }).click();
  await alex.getByRole("link", { name: "Join with an invite" }).first().click();
  await check(alex, "06-join");
  await alex.getByLabel("Invite link").fill(link);
  await alex.getByRole("button", { name: "Join", exact: true }).click();
  await alex.waitForURL(/\/j\/[0-9a-f]+/);
  await check(alex, "07-joined-journal");
  if (!(await alex.getByRole("heading", { level: 1 }).innerText()).includes("Sam")) fail("Alex does not see Sam's journal");
  // Sam's device learns Alex joined and names them (a member's name is data:
  // shown as text, never markup).
  await sam.goto(new URL(state.journal + "/share", sam.url()).href);
  await until(sam, () => document.body.innerText.includes("Alex <b>coordinator</b>"), "Alex to show on Sam's sharing page");
  if (await sam.locator("b", { hasText: "coordinator" }).count()) fail("a member's name was rendered as markup");
  await browser.close();
}

async function scoreWork(page, mine, agreed, who) {
  await page.goto(new URL(state.reading, page.url()).href);
  await page.getByRole("link", { name: "Change Work" }).click();
  await check(page, `${who}-area-work`);
  await page.getByRole("group", { name: /Your score/ }).getByLabel(String(mine), { exact: true }).check();
  await page.getByRole("group", { name: "Agreed score" }).getByLabel(String(agreed), { exact: true }).check();
  await timed(page, "score an area (ms)", () => page.getByRole("button", { name: "Save" }).click());
}

async function offline() {
  const browser = await launch();
  const sam = await person(browser, SAM_URL);
  const alex = await person(browser, ALEX_URL);
  // The relay is down: both score offline; the page says so calmly.
  await scoreWork(sam, 4, 5, "08-sam");
  await scoreWork(alex, 7, 6, "09-alex");
  await until(sam, () => document.getElementById("sync-status-text").innerText.includes("offline"), "the status to say offline");
  await check(sam, "10-offline-reading");
  const local = await sam.locator("main").innerText();
  if (!/Not sent yet: (one new change is|\d+ new changes are) kept on this device/.test(local)) fail(`the page does not say the change waits on this device:\n${local}`);
  await browser.close();
}

async function online() {
  const browser = await launch();
  const sam = await person(browser, SAM_URL);
  const alex = await person(browser, ALEX_URL);
  for (const p of [sam, alex]) {
    await p.goto(new URL(state.reading, p.url()).href);
  }
  // Back online: both pages show the gap and the conflict, with who said what.
  for (const [p, name] of [[sam, "Sam"], [alex, "Alex"]]) {
    await until(p, () => document.querySelector(".conflict-box"), `${name}'s page to show the conflict`, 40000);
    const text = await p.locator("main").innerText();
    if (!/gap of 3/.test(text)) fail(`${name} does not see the gap: ${text}`);
    if (!/Sam said 5/.test(text) || !/said 6/.test(text)) fail(`${name} does not see who said what: ${text}`);
  }
  await check(sam, "11-conflict");
  // Sam settles it in one step; Alex's open page shows it without a reload.
  const t0 = Date.now();
  await timed(sam, "settle a conflict (ms)", () => sam.getByRole("button", { name: /^Keep 6: Work/ }).click());
  await until(alex, () => !document.querySelector(".conflict-box"), "Alex's open page to show the settled value", 10000);
  (figures["remote change visible (ms)"] ||= []).push(Date.now() - t0);
  await alex.waitForFunction(() => document.getElementById("live").textContent.includes("Sam"), null, { timeout: 5000 })
    .catch(() => fail("the change was not announced to screen readers"));
  await check(alex, "12-settled-live");
  if (!(await alex.evaluate(() => document.getElementById("sync-status-text")?.getAttribute("role") === "status")))
    fail("a live refresh removed the sync status line's live region");
  // Both sign off; Sam then amends a score, and the amendment shows.
  for (const p of [sam, alex]) {
    await p.goto(new URL(state.reading, p.url()).href);
    await p.getByRole("button", { name: "Sign off this reading" }).click();
  }
  await until(alex, () => document.body.innerText.includes("signed off by the client and the worker"), "Alex's page to show both sign-offs");
  await sam.goto(new URL(state.reading, sam.url()).href);
  await until(sam, () => document.body.innerText.includes("signed off by the client and the worker"), "Sam's page to show both sign-offs");
  await check(sam, "13-signed-off");
  await scoreWork(sam, 5, 6, "14-sam");
  await alex.goto(new URL(state.reading, alex.url()).href);
  await until(alex, () => document.body.innerText.includes("changed after sign-off"), "Alex's page to show the amendment");
  await check(alex, "15-amended");

  // Every other screen, checked and photographed, wide and narrow.
  const base = state.journal;
  const screens = [
    ["16-caseload", "/"],
    ["17-journal", base],
    ["18-plan", base + "/plan"],
    ["19-notes", base + "/notes"],
    ["20-history", base + "/history"],
    ["21-export", base + "/export"],
    ["22-print", base + "/print"],
    ["26-your-data", "/data"],
    ["27-access-log", base + "/access"],
    ["28-delete", base + "/delete"],
    ["35-report", "/report"],
  ];
  for (const [name, p] of screens) {
    const t = await timed(sam, name.includes("journal") ? "open a journal (ms)" : "open a screen (ms)", () => sam.goto(new URL(p, sam.url()).href));
    void t;
    await check(sam, name);
  }
  // The action plan by keyboard alone: tab to the fields, type, press Enter.
  await sam.goto(new URL(base + "/plan", sam.url()).href);
  await sam.getByLabel("The goal", { exact: true }).focus();
  await sam.keyboard.type("Volunteer twice a week");
  await sam.keyboard.press("Enter");
  await sam.waitForURL(/done=done-goal/);
  if (!(await sam.locator("main").innerText()).includes("Volunteer twice a week")) fail("the goal typed by keyboard is missing");
  // Each goal's buttons say which goal they act on, as one phrase.
  await sam.locator("summary", { hasText: "Change or remove this goal" }).last().click();
  const removeGoal = sam.getByRole("button", { name: "Remove this goal and its steps: Volunteer twice a week", exact: true });
  if ((await removeGoal.count()) !== 1) fail("the goal's remove button is not named by its goal");
  // Who has looked: the relay's log names the worker who fetched.
  await sam.goto(new URL(base + "/access", sam.url()).href);
  const looked = await sam.locator("main").innerText();
  if (!looked.includes("(worker)")) fail(`the access log does not name the worker:\n${looked}`);
  // Deleting asks for the box first, and says so in an error summary.
  await sam.goto(new URL(base + "/delete", sam.url()).href);
  await sam.getByRole("button", { name: "Delete this journal" }).click();
  await sam.waitForLoadState("load");
  if (!(await sam.locator(".error-summary").innerText()).includes("Tick the box")) fail("deleting without the box ticked did not say what to do");
  await check(sam, "29-delete-refused");
  // A reading dated after today is refused by the field; a reading deleted
  // by mistake comes back from the deleted readings page.
  await sam.goto(new URL(state.reading, sam.url()).href);
  await sam.getByLabel("Date the reading was taken").fill("2999-01-01");
  await sam.getByRole("button", { name: "Change the date" }).click();
  await sam.waitForLoadState("load");
  if (!(await sam.locator(".error-summary").innerText()).includes("in the future")) fail("a reading dated after today was not refused");
  await check(sam, "33-reading-date-refused");
  await sam.getByRole("button", { name: "Delete this reading" }).click();
  await sam.waitForURL(/done=done-reading-deleted/);
  await check(sam, "34-deleted-readings");
  await sam.getByRole("button", { name: /^Restore the reading of / }).click();
  await sam.waitForURL(/done=done-reading-restored/);
  if (!(await sam.locator("h2").first().innerText()).startsWith("Reading of")) fail("the restored reading did not open");
  // Your devices, and a new recovery code shown once.
  await sam.goto(new URL("/devices", sam.url()).href);
  await check(sam, "30-devices");
  await sam.getByRole("button", { name: "Make a new recovery code" }).click();
  await sam.waitForLoadState("load");
  const code = (await sam.locator(".recovery-code").innerText()).trim();
  if (!/^([0-9A-Z]{4}-){6}[0-9A-Z]{3}$/.test(code)) fail(`the recovery code page shows no code: ${code}`);
  await check(sam, "31-recovery-code");
  // Relay details, from the status line: the relay is connected, and an
  // organisation's certificate is added from its file, listed, and removed
  // again after the box is ticked.
  await sam.getByRole("link", { name: "Relay details" }).click();
  await sam.waitForURL(/\/relays$/);
  await until(sam, () => document.querySelector("main").innerText.includes("Connected"), "the relay to show connected", 20000);
  await check(sam, "37-relays");
  await sam.getByLabel("Certificate file").setInputFiles(process.env.CA_PEM);
  await sam.getByRole("button", { name: "Trust this certificate" }).click();
  await sam.waitForURL(/done=done-ca-trusted/);
  if (!(await sam.locator("main").innerText()).includes("org-ca.pem")) fail("the certificate added is not listed by its file");
  await check(sam, "38-relays-certificate");
  await sam.getByRole("link", { name: "Remove org-ca.pem" }).click();
  await sam.getByRole("checkbox", { name: "Yes, stop trusting this certificate" }).check();
  await sam.getByRole("button", { name: "Remove the certificate" }).click();
  await sam.waitForURL(/done=done-ca-untrusted/);
  if ((await sam.locator("main").innerText()).includes("org-ca.pem")) fail("the removed certificate is still listed");
  const narrow = await person(browser, SAM_URL, 320);
  for (const [name, p] of [
    ["23-narrow-caseload", "/"],
    ["24-narrow-reading", state.reading],
    ["32-narrow-print", `${base}/print`],
    ["33-narrow-plan", `${base}/plan`],
    ["34-narrow-notes", `${base}/notes`],
    ["36-narrow-report", "/report"],
    ["39-narrow-relays", "/relays"],
  ]) {
    await narrow.goto(new URL(p, narrow.url()).href);
    await check(narrow, name);
  }
  // Page weight of the journal screen: the HTML and everything it loads
  // (the event stream aside).
  const weigh = await person(browser, SAM_URL);
  await weigh.goto(new URL(base, weigh.url()).href);
  await weigh.waitForLoadState("load");
  figures["journal screen weight (bytes)"] = [await weigh.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource").filter((r) => !r.name.endsWith("/events"));
    return (nav ? nav.encodedBodySize : 0) + res.reduce((a, r) => a + r.encodedBodySize, 0);
  })];
  await browser.close();
}

// The subject access archive (SAM_URL is its folder here): index.html
// opens from the disk, passes axe-core, and links every journal file.
async function archive() {
  const browser = await launch();
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto("file://" + path.join(SAM_URL, "index.html"));
  await check(page, "25-archive-index");
  const text = await page.locator("main").innerText();
  for (const f of ["journal.json", "view.json", "journal.csv", "journal.fhir.json", "history.json", "members.json", "journal.automerge", "relay-access-log.json", "relay-access-log.signed", "device.json"]) {
    if (!(await page.getByRole("link", { name: f, exact: true }).count())) fail(`the archive's index does not link ${f}:\n${text}`);
  }
  if (!text.includes("Sam")) fail(`the archive's index does not name the journal:\n${text}`);
  await browser.close();
}

const phases = { setup, offline, online, archive };
if (!phases[phase]) fail(`unknown phase ${phase}`);
await phases[phase]();
writeFileSync(stateFile, JSON.stringify(state));
writeFileSync(figuresFile, JSON.stringify(figures));
console.log(`phase ${phase}: ok`);
