// Two people on the demo page (examples/demo.py), in headless Chromium through playwright-core:
//
//     node two_users.mjs BASE_URL SCREENSHOT.png [CHROMIUM]
//
// Alice and Bob each get a browser context of their own (no shared storage, no
// BroadcastChannel between them), so everything one sees of the other came through the server.
// Each step waits for what a person would see, with a timeout; the observations are printed as
// one JSON line that tests/e2e/test_demo_browser.py asserts on. A page error or a timeout
// exits 1 with the reason on stderr.

import { launchChromium } from "./chromium.mjs";

const [base, screenshot, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error("usage: node two_users.mjs BASE_URL SCREENSHOT.png [CHROMIUM]");
  process.exit(2);
}
const STEP_MS = 15_000;
const DOC = "plan";

const browser = await launchChromium(executablePath);
const errors = [];

async function open(user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on("pageerror", (error) => errors.push(`${user}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${user} console: ${message.text()}`);
  });
  await page.goto(`${base}/?user=${user}#${DOC}`);
  // Connected to all three actors, and the document synced (the editor is enabled then).
  await page.waitForFunction(
    () => document.querySelectorAll("#status li.connected").length === 3 && !document.querySelector("#editor").disabled,
  );
  return page;
}

const editorValue = (page) => page.inputValue("#editor");
const waitForText = (page, text) =>
  page.waitForFunction((t) => document.querySelector("#editor").value === t, text);

/** The remote carets page shows: {user: {index, label}}. */
const carets = (page) =>
  page.$$eval("#cursors .caret", (marks) =>
    Object.fromEntries(marks.map((m) => [m.dataset.user, { index: Number(m.dataset.index), label: m.textContent }])),
  );

/** Wait until page shows `user`'s caret at `index`. */
const waitForCaret = (page, user, index) =>
  page.waitForFunction(
    ([u, i]) => document.querySelector(`#cursors .caret[data-user="${u}"]`)?.dataset.index === String(i),
    [user, index],
  );

const chatLines = (page) =>
  page.$$eval("#messages li", (items) => items.map((li) => `${li.querySelector(".user").textContent}: ${li.lastChild.textContent}`));

const waitForChat = (page, line) =>
  page.waitForFunction(
    (l) => [...document.querySelectorAll("#messages li")].some((li) => `${li.querySelector(".user").textContent}: ${li.lastChild.textContent}` === l),
    line,
  );

const step = async (name, action) => {
  try {
    return await action();
  } catch (error) {
    throw new Error(`step "${name}" failed: ${error.message}`);
  }
};

const report = {};
try {
  const alice = await step("alice opens the page", () => open("alice"));
  const bob = await step("bob opens the page", () => open("bob"));

  const fromAlice = "Plan for Friday\n\n- demo the shared editor\n- ";
  await step("alice types, bob sees it", async () => {
    await alice.click("#editor");
    await alice.keyboard.type(fromAlice);
    await waitForText(bob, fromAlice);
  });
  report.bob_sees = await editorValue(bob);

  const fromBob = "review the chat history\n- ship it";
  await step("bob types at the end, alice sees it", async () => {
    await bob.click("#editor");
    await bob.keyboard.press("Control+End");
    await bob.keyboard.type(fromBob);
    await waitForText(alice, fromAlice + fromBob);
  });
  report.alice_sees = await editorValue(alice);

  await step("each sees the other's cursor", async () => {
    await waitForCaret(alice, "bob", (fromAlice + fromBob).length);
    await waitForCaret(bob, "alice", fromAlice.length);
  });
  report.carets_on_alice = await carets(alice);
  report.carets_on_bob = await carets(bob);

  // Alice's caret sits before "shared"; Bob inserts "# " at the very start: her caret moves
  // with her text, and Bob's relative position keeps his caret on his character.
  const before = fromAlice.indexOf("shared");
  await step("a remote insert before alice's caret moves it", async () => {
    await alice.evaluate((at) => document.querySelector("#editor").setSelectionRange(at, at), before);
    await waitForCaret(bob, "alice", before);
    await bob.keyboard.press("Control+Home");
    await bob.keyboard.type("# ");
    await waitForText(alice, `# ${fromAlice}${fromBob}`);
    await waitForCaret(alice, "bob", 2);
  });
  report.alice_selection = await alice.$eval("#editor", (e) => [e.selectionStart, e.selectionEnd]);
  report.caret_index_before = before;
  report.final_alice = await editorValue(alice);
  report.final_bob = await editorValue(bob);

  await step("who is here", async () => {
    await alice.waitForSelector('#people li[data-user="bob"]');
    await bob.waitForSelector('#people li[data-user="alice"]');
  });
  report.people_on_alice = await alice.$$eval("#people li", (items) => items.map((li) => li.dataset.user));
  report.people_on_bob = await bob.$$eval("#people li", (items) => items.map((li) => li.dataset.user));

  await step("alice's chat message reaches bob, and bob's reaches alice", async () => {
    await alice.fill("#say-text", "Hi Bob, I started the plan on the left.");
    await alice.press("#say-text", "Enter");
    await waitForChat(bob, "alice: Hi Bob, I started the plan on the left.");
    await bob.fill("#say-text", "Looks good! Adding my part now.");
    await bob.press("#say-text", "Enter");
    await waitForChat(alice, "bob: Looks good! Adding my part now.");
    await waitForChat(bob, "bob: Looks good! Adding my part now.");
  });
  report.chat_on_alice = await chatLines(alice);
  report.chat_on_bob = await chatLines(bob);

  // The docs' picture: Alice's window, Bob's caret parked at the end of his line.
  await step("the screenshot", async () => {
    await bob.focus("#editor");
    await bob.keyboard.press("Control+End");
    await waitForCaret(alice, "bob", report.final_alice.length);
    await alice.evaluate(() => document.activeElement?.blur());
    await alice.screenshot({ path: screenshot });
  });
  report.screenshot = screenshot;
  report.errors = errors;
  console.log(JSON.stringify(report));
} catch (error) {
  console.error(error.message);
  console.error(JSON.stringify({ partial: report, errors }, null, 2));
  process.exitCode = 1;
} finally {
  await browser.close();
}
