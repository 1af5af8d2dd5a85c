// A small Playwright driver for the Python browser tests: one JSON request per line on stdin,
// one JSON answer per line on stdout ({id, ok, value} or {id, ok: false, error}).
// Playwright (playwright-core) comes from card/node_modules; the browser is Debian's chromium.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(new URL("../../card/package.json", import.meta.url));
const { chromium } = require("playwright-core");

let browser = null;
let context = null;
let page = null;
const logs = [];

// Run a function given as source text in the page, with one JSON argument.
const inPage = ([source, arg]) => (0, eval)(`(${source})`)(arg);

// A fresh browser context (cookies, storage) with one page, opened at `url`.
async function openContext({ viewport, colorScheme, localStorage, url, initScripts }) {
  context = await browser.newContext({ viewport, colorScheme, permissions: ["microphone"] });
  // Name what a rejected promise carried: HA rejects with plain objects ({code, message}).
  await context.addInitScript(() => {
    window.addEventListener("unhandledrejection", (event) => {
      let text;
      try {
        text = JSON.stringify(event.reason);
      } catch {
        text = String(event.reason);
      }
      console.error(`unhandled rejection: ${text} ${event.reason?.stack ?? ""}`);
    });
  });
  if (localStorage) {
    // Before HA's frontend reads it: a logged-in session, as after the login page.
    await context.addInitScript((entries) => {
      for (const [key, value] of Object.entries(entries)) window.localStorage.setItem(key, value);
    }, localStorage);
  }
  for (const source of initScripts ?? []) await context.addInitScript({ content: source });
  page = await context.newPage();
  page.on("console", (message) => {
    if (["error", "warning"].includes(message.type())) logs.push(`${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => logs.push(`pageerror: ${error.message}`));
  if (url) await page.goto(url, { waitUntil: "load" });
}

const ops = {
  async launch({ executablePath, args, ...contextOptions }) {
    browser = await chromium.launch({ executablePath, args, headless: true });
    await openContext(contextOptions);
    return browser.version();
  },
  // Another session (e.g. another user logged in): the current page and its storage are closed.
  async newContext(contextOptions) {
    await context?.close();
    await openContext(contextOptions);
  },
  async goto({ url }) {
    await page.goto(url, { waitUntil: "load" });
  },
  async evaluate({ fn, arg }) {
    return page.evaluate(inPage, [fn, arg ?? null]);
  },
  async waitFor({ fn, arg, timeoutMs, polling }) {
    const handle = await page.waitForFunction(inPage, [fn, arg ?? null], {
      timeout: timeoutMs ?? 30000,
      polling: polling ?? "raf",
    });
    return handle.jsonValue();
  },
  async fill({ selector, text }) {
    await page.locator(selector).fill(text);
  },
  async press({ selector, key }) {
    await page.locator(selector).press(key);
  },
  async click({ selector }) {
    await page.locator(selector).click();
  },
  async pointerDown({ selector }) {
    await page.locator(selector).hover();
    await page.mouse.down();
  },
  async pointerUp() {
    await page.mouse.up();
  },
  async box({ selector }) {
    return page.locator(selector).boundingBox();
  },
  async viewport({ width, height }) {
    await page.setViewportSize({ width, height });
  },
  async colorScheme({ scheme }) {
    await page.emulateMedia({ colorScheme: scheme });
  },
  async screenshot({ path, selector }) {
    if (selector) await page.locator(selector).screenshot({ path });
    else await page.screenshot({ path });
    return path;
  },
  async logs() {
    return logs.splice(0);
  },
  async close() {
    await browser?.close();
    browser = null;
  },
};

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    const { id, op, ...args } = JSON.parse(line);
    let answer;
    try {
      answer = { id, ok: true, value: (await ops[op](args)) ?? null };
    } catch (error) {
      answer = { id, ok: false, error: String(error?.stack ?? error) };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  });
});
lines.on("close", () => {
  queue.then(() => browser?.close()).finally(() => process.exit(0));
});
