// Debian's chromium, headless, as every browser test here starts it (through playwright-core).

import { chromium } from "playwright-core";

/** Launch the chromium at `executablePath` headless, with nothing running in the background. */
export function launchChromium(executablePath) {
  return chromium.launch({
    executablePath,
    headless: true,
    // playwright-core also passes a fresh --user-data-dir (a temporary profile) of its own.
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60_000,
  });
}
