import { test, expect } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";

test("pages hydrate under the Content-Security-Policy with no violation", async ({ page }) => {
  await page.addInitScript(() => {
    (window as any).__csp = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      (window as any).__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  const response = await page.goto("/sign-in");
  const csp = response!.headers()["content-security-policy"];
  expect(csp).toContain("'nonce-");
  expect(csp).not.toContain("unsafe-inline");
  await signIn(page, accounts.a);
  for (const path of ["/contacts", "/contacts/new", "/sessions"]) {
    await page.goto(path);
    await hydrated(page);
  }
  expect(await page.evaluate(() => (window as any).__csp)).toEqual([]);
});

test("another site cannot frame the sidebar", async ({ page, baseURL }) => {
  const refused: string[] = [];
  page.on("console", (m) => {
    if (m.text().includes("frame-ancestors")) refused.push(m.text());
  });
  // about:blank is not this site and not Webex.
  await page.setContent(`<iframe title="framed" src="${baseURL}/sign-in"></iframe>`);
  await expect.poll(() => refused.length, { timeout: 10_000 }).toBeGreaterThan(0);
  // Chromium: "Framing '…' violates the following Content Security Policy
  // directive: "frame-ancestors …". The request has been blocked."
  expect(refused[0]).toContain("blocked");
});
