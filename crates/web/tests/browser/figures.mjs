// Figures of `starling ui` in the system's headless Chromium, for the
// closing notes (not a test: it asserts only that each step happened).
// Run by `cargo run --release -p starling --example figures`, which builds
// the homes, starts the relay and three `starling ui` processes:
//   node figures.mjs SAM_URL ALEX_URL CASELOAD_URL READING_PATH SAMPLES
// SAM_URL and ALEX_URL share the journal of READING_PATH (Sam the client,
// Alex the worker) whose reading holds ten open conflicts; CASELOAD_URL is
// a coordinator's device with many journals of 8 readings each.

import { chromium } from "playwright-core";
import { performance } from "node:perf_hooks";
import http from "node:http";

const [SAM_URL, ALEX_URL, CASELOAD_URL, READING, SAMPLES = "20"] = process.argv.slice(2);
const samples = parseInt(SAMPLES, 10);

function fail(message) {
  throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

async function person(url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => fail(`script error on ${page.url()}: ${e.message}`));
  await page.goto(url);
  return page;
}

const at = (page, p) => new URL(p, page.url()).href;

// Milliseconds from the click to the `load` of the page it leads to, two
// ways: as the driver sees it (with playwright's own checks and round
// trips to the browser), and as the browser counts it (from the start of
// the navigation, the form's POST and its redirect included, to the end of
// the new page's load event).
async function clickToLoad(page, locator, into) {
  const t0 = performance.now();
  await Promise.all([page.waitForEvent("load"), locator.click()]);
  const driver = performance.now() - t0;
  const browser = await page.evaluate(() => new Promise((resolve) => {
    const end = () => performance.getEntriesByType("navigation")[0].loadEventEnd;
    const poll = () => (end() > 0 ? resolve(end()) : setTimeout(poll, 1));
    poll();
  }));
  into.driver.push(driver);
  into.browser.push(browser);
}

const q = (ms, p) => [...ms].sort((a, b) => a - b)[Math.round((ms.length - 1) * p)].toFixed(1);

function report(what, ms, target) {
  console.log(`ui: ${what}: p50 ${q(ms, 0.5)} ms, p90 ${q(ms, 0.9)} ms, max ${q(ms, 1)} ms (${ms.length} samples${target ? `; target ${target}` : ""})`);
}

function reportClicks(what, t, target) {
  console.log(`ui: ${what}: in the browser p50 ${q(t.browser, 0.5)} ms, p90 ${q(t.browser, 0.9)} ms; ` +
    `through the driver p50 ${q(t.driver, 0.5)} ms, p90 ${q(t.driver, 0.9)} ms (${t.driver.length} samples; target ${target})`);
}

const clicks = () => ({ driver: [], browser: [] });

// The floor: the same click between two tiny static pages served by this
// script, so the figures below can be read against what this machine's
// Chromium and driver cost alone.
const tiny = (to) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title></head><body><main><a href="/${to}">next</a></main></body></html>`;
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  res.end(tiny(req.url === "/a" ? "b" : "a"));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));

const floorPage = await person(`http://127.0.0.1:${server.address().port}/a`);
const floor = clicks();
for (let i = 0; i < samples; i++) {
  await clickToLoad(floorPage, floorPage.locator("main a"), floor);
}
reportClicks("floor: click a link between two tiny static pages", floor, "none, this machine's floor");
server.close();

const sam = await person(SAM_URL);
const alex = await person(ALEX_URL);
const coordinator = await person(CASELOAD_URL);

// Scoring an area: Save on the area's form, until the reading shows again.
const score = clicks();
for (let i = 0; i < samples; i++) {
  await sam.goto(at(sam, READING + "/a/work"));
  await sam.getByRole("group", { name: /Your score/ }).getByLabel(String((i % 10) + 1), { exact: true }).check();
  await clickToLoad(sam, sam.getByRole("button", { name: "Save" }), score);
  if (!sam.url().includes(READING)) fail(`saving led to ${sam.url()}`);
}
reportClicks("click Save on a score to the updated reading", score, "< 100 ms");

// Settling a conflict: "Keep" on the reading, until the reading shows again.
await sam.goto(at(sam, READING));
const settle = clicks();
while ((await sam.locator(".conflict-box").count()) > 0) {
  const before = await sam.locator(".conflict-box").count();
  await clickToLoad(sam, sam.locator(".conflict-box button").first(), settle);
  if ((await sam.locator(".conflict-box").count()) !== before - 1) fail("a conflict was not settled");
}
if (settle.driver.length === 0) fail("no conflicts to settle");
reportClicks("click Keep on a conflict to the updated reading", settle, "< 100 ms");

// Opening a journal from the caseload.
const open = clicks();
const links = await coordinator.locator("main a[href^='/j/']").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
if (links.length < 2) fail(`the caseload lists ${links.length} journals`);
for (let i = 0; i < samples; i++) {
  await coordinator.goto(at(coordinator, "/"));
  const href = links[(i * 7) % links.length];
  await clickToLoad(coordinator, coordinator.locator(`main a[href='${href}']`).first(), open);
}
reportClicks("click a journal on the caseload to its page", open, "< 100 ms");

// The caseload screen: first contentful paint, from navigation start.
const paint = [];
for (let i = 0; i < Math.max(5, samples / 2); i++) {
  await coordinator.goto(at(coordinator, "/"), { waitUntil: "load" });
  const fcp = await coordinator.evaluate(() =>
    new Promise((resolve) => {
      const seen = performance.getEntriesByName("first-contentful-paint")[0];
      if (seen) { resolve(seen.startTime); return; }
      new PerformanceObserver((list, obs) => { obs.disconnect(); resolve(list.getEntries()[0].startTime); })
        .observe({ type: "paint", buffered: true });
    }));
  paint.push(fcp);
}
const rows = await coordinator.locator("main a[href^='/j/']").count();
report(`caseload screen of ${rows} journals, first contentful paint`, paint, "< 300 ms");

// What the journal screen weighs (a journal of 8 readings): the HTML and
// everything it loads, the event stream aside.
await coordinator.goto(at(coordinator, links[0]), { waitUntil: "load" });
const weight = await coordinator.evaluate(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource").filter((r) => !r.name.endsWith("/events"));
  return {
    html: nav.encodedBodySize,
    assets: res.reduce((a, r) => a + r.encodedBodySize, 0),
    transferred: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
    requests: 1 + res.length,
  };
});
console.log(`ui: journal screen (8 readings) weighs ${weight.html + weight.assets} bytes: ${weight.html} of HTML and ${weight.assets} of assets ` +
  `(${weight.requests} files); once the assets are kept, a visit transfers ${weight.transferred} bytes`);

// A change on Alex's device, visible on Sam's open page: from Alex's click
// to Sam's page showing the new content (server-sent event, then refresh).
await sam.goto(at(sam, READING), { waitUntil: "load" });
await new Promise((r) => setTimeout(r, 500));
const remote = [];
for (let i = 0; i < samples; i++) {
  await alex.goto(at(alex, READING + "/a/work"));
  const value = String(((i + 3) % 10) + 1);
  await alex.getByRole("group", { name: /Your score/ }).getByLabel(value, { exact: true }).check();
  await sam.evaluate(() => document.querySelector("main").setAttribute("data-stale", ""));
  const t0 = performance.now();
  await alex.getByRole("button", { name: "Save" }).click();
  await sam.waitForSelector("main:not([data-stale])", { timeout: 10000 })
    .catch(() => fail("Alex's change did not reach Sam's open page within 10 s"));
  remote.push(performance.now() - t0);
}
report("a change on one device to visible on the other's open page", remote, "p50 < 1 s");

await browser.close();
