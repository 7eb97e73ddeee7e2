// The inspector page (runtime/_inspector_page) in headless Chromium through playwright-core:
//
//     node inspector.mjs BASE_URL TOKEN PLAN_KEY HOSTILE_KEY SCREENSHOT.png [CHROMIUM]
//
// Opens BASE_URL/_roost/?token=TOKEN as an operator would, then checks what the page shows of
// the actors tests/e2e/test_inspector_browser.py created: the list, one actor's connections,
// alarms, synced state, the SQL console (a read, a refused write), the live charts, a search
// for the hostile key (rendered as text, never as markup). The observations are printed as
// one JSON line for the test to assert on; a page error or a timeout exits 1.

import { launchChromium } from "./chromium.mjs";

const [base, token, planKey, hostileKey, screenshot, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
if (!base || !token || !planKey || !hostileKey || !screenshot) {
  console.error("usage: node inspector.mjs BASE_URL TOKEN PLAN_KEY HOSTILE_KEY SCREENSHOT.png [CHROMIUM]");
  process.exit(2);
}
const STEP_MS = 15_000;

const browser = await launchChromium(executablePath);
const errors = [];
const seen = {};
let dialogs = 0;

try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    // Chromium logs every 4xx as "Failed to load resource": the responses are checked below.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) errors.push(`console: ${message.text()}`);
  });
  page.on("response", (response) => {
    // Only the refused SQL write may fail.
    if (response.status() >= 400 && !response.url().includes("/api/sql?")) errors.push(`${response.status()} for ${response.url()}`);
  });
  page.on("dialog", async (dialog) => {
    dialogs += 1; // an alert() would mean a key ran as markup
    await dialog.dismiss();
  });
  const requests = [];
  page.on("request", (request) => requests.push(request.url()));

  await page.goto(`${base}/_roost/?token=${encodeURIComponent(token)}`);
  // The token left the address bar and lives in this tab's sessionStorage.
  await page.waitForSelector("#actors tbody tr[data-key]");
  seen.url = page.url();
  seen.stored_token = await page.evaluate(() => sessionStorage.getItem("roost-inspector-token"));
  seen.api_urls_with_token = requests.filter((u) => u.includes("/api/") && u.includes(encodeURIComponent(token))).length;

  seen.types = await page.$$eval("#types tbody tr[data-type]", (rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)),
  );
  seen.live_keys = await page.$$eval("#actors tbody tr[data-key]", (rows) => rows.map((r) => r.querySelector(".key").textContent));
  seen.images = await page.evaluate(() => document.querySelectorAll("img, script:not([src])").length);

  // Search: the hostile key is found and shown as the text it is.
  await page.fill("#search", "🙂");
  await page.waitForFunction(() => document.querySelectorAll("#actors tbody tr[data-key]").length === 1);
  seen.search_keys = await page.$$eval("#actors tbody tr[data-key] .key", (links) => links.map((a) => a.textContent));
  await page.click("#actors tbody tr[data-key] .key");
  await page.waitForFunction((k) => document.querySelector("#actor-key").textContent === k, hostileKey);
  await page.waitForSelector("#connections tbody tr[data-id]");
  seen.hostile_connections = await page.$$eval("#connections tbody tr[data-id]", (rows) => rows.length);
  seen.images_after = await page.evaluate(() => document.querySelectorAll("img").length);

  // The files tab lists both actors from their files.
  await page.fill("#search", "");
  await page.selectOption("#type-filter", "board");
  await page.click('.tabs button[data-source="files"]');
  await page.waitForFunction(() => [...document.querySelectorAll("#actors tbody tr[data-key]")].every((r) => r.children[2].textContent === "file") && document.querySelectorAll("#actors tbody tr[data-key]").length >= 2);
  seen.file_keys = await page.$$eval("#actors tbody tr[data-key] .key", (links) => links.map((a) => a.textContent).sort());
  await page.click('.tabs button[data-source="live"]');
  await page.waitForFunction(() => [...document.querySelectorAll("#actors tbody tr[data-key]")].some((r) => r.children[2].textContent === "active"));

  // One actor: connections, alarms, synced state.
  await page.click(`#actors tbody tr[data-key="${planKey}"] .key`);
  await page.waitForFunction((k) => document.querySelector("#actor-key").textContent === k, planKey);
  await page.waitForSelector("#connections tbody tr[data-id]");
  seen.connections = await page.$$eval("#connections tbody tr[data-id]", (rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)),
  );
  seen.alarms = await page.$$eval("#alarms tbody tr", (rows) => rows.map((r) => r.querySelector("td").textContent));
  await page.waitForFunction(() => document.querySelector("#synced").textContent.includes("notes"));
  seen.synced = JSON.parse(await page.textContent("#synced"));
  seen.hash = new URL(page.url()).hash;

  // The SQL console: a refused write, then a read.
  await page.fill("#sql", "DELETE FROM notes");
  await page.click("#sql-form button");
  await page.waitForSelector("#sql-note.error");
  seen.write_refused = await page.textContent("#sql-note");
  await page.fill("#sql", "SELECT id, text FROM notes ORDER BY id");
  await page.click("#sql-form button");
  await page.waitForFunction(() => /rows? in/.test(document.querySelector("#sql-note").textContent));
  seen.sql_columns = await page.$$eval("#sql-result thead th", (ths) => ths.map((th) => th.textContent));
  seen.sql_rows = await page.$$eval("#sql-result tbody tr", (rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)));

  // The live charts have drawn a few seconds of numbers, with traffic in them.
  await page.waitForFunction(() => Number(document.querySelector("#chart-messages").dataset.points || 0) >= 12, null, { timeout: 30_000 });
  await page.waitForFunction(() => /^[1-9]/.test(document.querySelector("#now-messages").textContent));
  seen.connections_now = await page.textContent("#now-connections");
  seen.messages_now = await page.textContent("#now-messages");
  seen.status = await page.textContent("#status");

  await page.screenshot({ path: screenshot, fullPage: true });
  seen.url_at_end = page.url();
} catch (error) {
  errors.push(`step failed: ${error.message}`);
} finally {
  await browser.close();
}
seen.errors = errors;
seen.dialogs = dialogs;
console.log(JSON.stringify(seen));
process.exit(errors.length ? 1 : 0);
