import { test, expect, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { accounts, api, hydrated, signIn } from "./helpers";
import { freshNumber, startFromContacts } from "./relay-helpers";

// Every page, the sandbox's included, has no serious or critical violation
// under axe-core (WCAG 2.x A and AA rules), in the light and the dark scheme,
// at the Webex sidebar's 320 px; and the main journey works with the keyboard alone.

async function expectNoSeriousViolations(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(" ")).join("\n    ")}`);
  expect(serious, `${what}: axe violations`).toEqual([]);
}

for (const scheme of ["light", "dark"] as const) {
  test(`axe: every page, ${scheme} scheme`, async ({ browser, request }) => {
    test.setTimeout(120_000);
    const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 320, height: 720 } });
    const page = await context.newPage();
    const check = async (path: string, ready: () => Promise<unknown>) => {
      await page.goto(path);
      await ready();
      // The sandbox's pages are plain HTML: only the sidebar hydrates.
      if (!path.startsWith("/sandbox")) await hydrated(page);
      await expectNoSeriousViolations(page, `${path} (${scheme})`);
    };
    const h1 = (name: string | RegExp) => () => expect(page.getByRole("heading", { level: 1, name })).toBeVisible();

    // Signed out.
    await check("/sign-in", h1("Sign in"));
    await check("/contacts", h1("Please sign in"));
    await check("/no-such-page", h1("Page not found"));

    // An agent's pages, with a contact and a session of their own.
    await signIn(page, accounts.a);
    const name = `Axe Check ${scheme} ${Date.now() % 100000}`;
    const number = freshNumber();
    const made = await api(request, "POST", "/api/v1/contacts", { name, msisdn: number });
    expect(made.status).toBe(201);
    const contact = made.body.id;
    await startFromContacts(page, name, "SMS");
    await check("/", h1("Contact Manager"));
    await check("/contacts", h1("Contacts"));
    await check("/contacts/new", h1("New contact"));
    await check(`/contacts/${contact}`, h1("Edit contact"));
    await check(`/contacts/${contact}/delete`, h1("Delete contact?"));
    await check("/contacts/import", h1(/Import/));
    await check("/sessions", h1("Sessions"));
    await check("/links", h1("My links"));
    await page.goto("/sessions");
    await page.getByRole("list", { name: "Sessions" }).getByRole("link", { name }).click();
    const session = new URL(page.url()).pathname;
    await check(session, h1(name));
    await check(`${session}?confirm=end`, () => expect(page.getByRole("alertdialog")).toBeVisible());
    await page.goto(session);
    await page.getByRole("list", { name: "Conversations" }).getByRole("link").first().click();
    const conversation = new URL(page.url()).pathname;
    await check(conversation, h1(`Conversation with ${name}`));
    await check(`${conversation}?confirm=close`, () => expect(page.getByRole("alertdialog")).toBeVisible());

    // The admin's pages.
    await page.getByRole("button", { name: "Sign out" }).click();
    await signIn(page, accounts.admin);
    await check("/sessions?scope=all", h1("Sessions"));
    await check("/admin", h1("Admin"));
    await check("/admin/agents", h1("Agents"));
    await check("/admin/keys", h1("API keys"));
    await check("/admin/integrations", () => expect(page.getByRole("list", { name: "Integrations" })).toBeVisible());
    await check("/admin/bot", () => expect(page.getByText("No bot is configured")).toBeVisible());
    await check("/admin/undelivered", h1("Undelivered"));
    await check("/admin/opt-outs", h1("Opt-outs"));
    await check("/admin/audit", () => expect(page.getByRole("list", { name: "Audit entries" })).toBeVisible());
    await check("/admin/privacy", () => expect(page.getByRole("list", { name: "Retention in force" })).toBeVisible());

    // The sandbox's pages: the customer's phone, the agent's Webex App, the Webex sign-in.
    await check("/sandbox/phone", async () => {
      // With a conversation on it: the customer answers the SMS the agent started.
      await page.getByLabel("Channel").selectOption("sms");
      await page.getByLabel("Phone number").fill(number);
      await page.getByLabel("Message", { exact: true }).fill("Hello from the phone");
      await page.getByRole("button", { name: "Send" }).click();
      await expect(page.getByRole("log", { name: "Conversation" }).getByRole("listitem").first()).toBeVisible();
    });
    await check(`/sandbox/webex-client?agent=${accounts.a.email}`, () => expect(page.getByRole("log", { name: "Conversation" })).toBeVisible());
    await page.goto("/sign-in");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "Sign in with Webex" }).click();
    await expect(page.getByRole("heading", { name: "Sandbox Webex sign-in" })).toBeVisible();
    await expectNoSeriousViolations(page, `sandbox Webex sign-in (${scheme})`);
    await context.close();
  });
}

/** Presses Tab until the focused element is the one wanted (at most 60 times). */
async function tabTo(page: Page, role: "link" | "button" | "textbox" | "searchbox", name: string | RegExp) {
  const target = page.getByRole(role, { name, exact: typeof name === "string" });
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
  }
  throw new Error(`Tab never reached the ${role} "${name}"`);
}

test("the main journey with the keyboard alone: sign in, add a contact, start a conversation, open the session", async ({ page }) => {
  await page.goto("/sign-in");
  await hydrated(page);
  await tabTo(page, "textbox", "Email");
  await page.keyboard.type(accounts.a.email);
  await page.keyboard.press("Tab");
  await page.keyboard.type(accounts.a.password);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/contacts/);

  await tabTo(page, "link", "New contact");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("New contact");
  await hydrated(page);
  const number = freshNumber();
  const name = `Keyboard Customer ${number.slice(-5)}`;
  await tabTo(page, "textbox", "Name");
  await page.keyboard.type(name);
  await page.keyboard.press("Tab");
  await page.keyboard.type(number);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("status")).toContainText(`Saved ${name}`);

  await tabTo(page, "searchbox", "Search contacts");
  await page.keyboard.type(name);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("list", { name: "Contacts" }).getByRole("listitem")).toHaveCount(1);
  await hydrated(page);
  await tabTo(page, "button", `Start WhatsApp conversation with ${name}`);
  await page.keyboard.press("Enter");
  // The customer never wrote: the template chooser opens and takes the
  // keyboard; its first template is chosen already.
  await expect(page.getByRole("heading", { name: `Start WhatsApp with ${name}` })).toBeFocused();
  await tabTo(page, "button", "Start");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("status").filter({ hasText: "conversation with" })).toContainText(name);

  await tabTo(page, "link", "Sessions");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Sessions");
  await tabTo(page, "link", name);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);

  await tabTo(page, "button", "Sign out");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/sign-in\?signed_out=1/);
});
