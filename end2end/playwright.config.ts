import { defineConfig } from "@playwright/test";

// The server is started by scripts/test (a fresh database on a free port) and
// its address passed in BASE_URL. The browser is Debian's Chromium: Playwright
// never downloads one here.
export default defineConfig({
  testDir: "./tests",
  // A journey crosses the sandbox, the relay's outbox and a debug build on a
  // 2-core machine that may still be busy: each test gets a minute (each
  // wait inside it still has its own, shorter limit).
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 1,
  reporter: "list",
  use: {
    baseURL: process.env.BASE_URL ?? "http://127.0.0.1:3000",
    trace: "off",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [
    // The server started with CM_RELAY_MODE=native: everything but the Connect trigger.
    { name: "native", testIgnore: [/start-conversation\.spec/, /screenshots\.spec/, /bot\.spec/] },
    // A native server whose new customers talk to the sandbox's scripted bot first.
    {
      name: "bot",
      testMatch: /bot\.spec/,
      use: { baseURL: process.env.BOT_BASE_URL ?? process.env.BASE_URL ?? "http://127.0.0.1:3000" },
    },
    // The README's screenshots, on a server with a database of their own.
    {
      name: "screenshots",
      testMatch: /screenshots\.spec/,
      use: { baseURL: process.env.SCREENSHOTS_BASE_URL ?? process.env.BASE_URL ?? "http://127.0.0.1:3000" },
    },
    // A second server with CM_RELAY_MODE=connect: the Start buttons trigger Webex Connect.
    {
      name: "connect-mode",
      testMatch: /start-conversation\.spec/,
      use: { baseURL: process.env.CONNECT_BASE_URL ?? process.env.BASE_URL ?? "http://127.0.0.1:3000" },
    },
  ],
});
