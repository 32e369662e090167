import { test } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { accounts, api, hydrated, signIn } from "./helpers";
import {
  businessMessages,
  customerSays,
  expect,
  expectTranscriptLine,
  freshNumber,
  openSession,
  openSpace,
  phone,
  spaceMessages,
  startFromContacts,
  templateChooser,
  thread,
  webexClient,
} from "./relay-helpers";

// WhatsApp's first contact as an agent meets it: a customer who has not
// written in the last 24 hours can only be sent an approved template, so
// Start WhatsApp first asks which one (the test server's two, scripts/test:
// "Re-engagement", and "Order update" whose order number the agent types).

test("a closed window: the agent chooses a template, types its value, and the customer gets it at once", async ({ page, browser, request }) => {
  const number = freshNumber();
  const name = `Template Customer ${number.slice(-5)}`;
  const made = await api(request, "POST", "/api/v1/contacts", { name, msisdn: number });
  expect(made.status).toBe(201);
  await signIn(page, accounts.a);
  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await hydrated(page);

  const start = page.getByRole("button", { name: `Start WhatsApp conversation with ${name}` });
  await expect(start).toHaveAttribute("aria-expanded", "false");
  await start.click();
  const chooser = templateChooser(page, name);
  await expect(chooser).toBeVisible();
  await expect(start).toHaveAttribute("aria-expanded", "true");
  await expect(chooser.getByRole("heading", { name: `Start WhatsApp with ${name}` })).toBeFocused();
  await expect(chooser.getByRole("radio", { name: /^Re-engagement/ })).toBeChecked();
  await expect(chooser.getByRole("textbox")).toHaveCount(0);

  // The order update asks for its order number, and shows its text.
  await chooser.getByRole("radio", { name: /^Order update/ }).check();
  const order = chooser.getByRole("textbox", { name: "Order number" });
  await expect(order).toBeVisible();
  await expect(chooser).toContainText(`Hello ${name}, there is news about your order [Order number].`);
  await order.fill("A-1042");
  await expect(chooser).toContainText(`Hello ${name}, there is news about your order A-1042.`);
  const axe = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
  const serious = axe.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.help}`);
  expect(serious, "the chooser: axe violations").toEqual([]);
  if (process.env.LOOK_DIR) await page.screenshot({ path: `${process.env.LOOK_DIR}/template-chooser.png`, fullPage: true });

  await chooser.getByRole("button", { name: "Start", exact: true }).click();
  await expect(page.getByRole("status").filter({ hasText: "conversation with" })).toContainText(
    `WhatsApp conversation with ${name} started: the template “Order update” was sent to them`,
  );
  await expect(chooser).toHaveCount(0);

  // The customer's phone shows the template with its values (in the
  // variables' order: customer, order), once.
  const customer = await phone(browser, "whatsapp", number, name);
  await expect(businessMessages(customer, `Template sandbox_order_update: ${name}, A-1042`)).toHaveCount(1);
  await expect(businessMessages(customer)).toHaveCount(1);

  // The agent's space says it went; the transcript has its line.
  const webex = await webexClient(browser, accounts.a.email);
  const space = await openSpace(webex, name);
  await expect(spaceMessages(space, `the template "Order update" (sandbox_order_update) was sent to them`)).toHaveCount(1);
  await openSession(page, name);
  const line = await expectTranscriptLine(page, "WhatsApp template sandbox_order_update", /✓/);
  await expect(line).toContainText(`customer=${name}, order=A-1042`);

  // Once the customer answers, the agent's own words reach them.
  await customerSays(customer, "Thanks, when will it arrive?");
  await expect(space).toContainText("Thanks, when will it arrive?");
});

test("Cancel sends nothing; with the window open, Start goes straight on", async ({ page, browser, request }) => {
  const number = freshNumber();
  const name = `Open Window ${number.slice(-5)}`;
  const made = await api(request, "POST", "/api/v1/contacts", { name, msisdn: number });
  expect(made.status).toBe(201);
  await signIn(page, accounts.a);
  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await hydrated(page);

  await page.getByRole("button", { name: `Start WhatsApp conversation with ${name}` }).click();
  const chooser = templateChooser(page, name);
  await expect(chooser).toBeVisible();
  await chooser.getByRole("link", { name: "Cancel" }).click();
  await expect(chooser).toHaveCount(0);
  await expect(page.getByRole("status").filter({ hasText: "conversation with" })).toHaveCount(0);

  // Started without a template ("None now"); the customer writes, which
  // opens the window: the next start needs no template and shows no chooser.
  await startFromContacts(page, name, "WhatsApp");
  const customer = await phone(browser, "whatsapp", number, name);
  await customerSays(customer, "Hello, I have a question");
  await expect(businessMessages(customer)).toHaveCount(0);
  const webex = await webexClient(browser, accounts.a.email);
  const space = await openSpace(webex, name);
  await expect(space).toContainText("Hello, I have a question");

  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await hydrated(page);
  await page.getByRole("button", { name: `Start WhatsApp conversation with ${name}` }).click();
  await expect(page.getByRole("status").filter({ hasText: "conversation with" })).toContainText(
    `WhatsApp conversation with ${name} started: it will appear in your Webex App`,
  );
  await expect(chooser).toHaveCount(0);
  await expect(thread(customer)).not.toContainText("Template");
});
