import { test } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";
import { addContactAndStart, customerSays, expect, freshNumber, phone } from "./relay-helpers";

// STOP as a person meets it: the customer gets one confirmation, the agent's
// session page says the customer opted out, starting again is refused with
// the reason, and admins find the number under Admin › Opt-outs.

test("a customer who replies STOP is shown as opted out, and starts are refused", async ({ page, browser }) => {
  const number = freshNumber();
  const name = `Stop Customer ${number.slice(-5)}`;
  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "SMS");

  const customer = await phone(browser, "sms", number);
  await customerSays(customer, "STOP");
  await expect(customer.getByRole("log", { name: "Conversation" })).toContainText("You have unsubscribed");

  await page.goto("/sessions");
  await page.getByRole("link", { name, exact: true }).click();
  await hydrated(page);
  await expect(page.getByRole("status").filter({ hasText: "Opted out." })).toContainText("keyword STOP");
  if (process.env.LOOK_DIR) await page.screenshot({ path: `${process.env.LOOK_DIR}/session-opted-out.png`, fullPage: true });

  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await hydrated(page);
  await page.getByRole("button", { name: `Start SMS conversation with ${name}` }).click();
  await expect(page.getByRole("alert")).toContainText("opted out of SMS messages (keyword STOP");

  const admin = await browser.newPage();
  await signIn(admin, accounts.admin);
  await admin.goto("/admin/opt-outs");
  const listed = admin.getByRole("list", { name: "Opt-outs" }).getByRole("listitem").filter({ hasText: number.slice(-6) });
  await expect(listed).toContainText("SMS · keyword STOP");
  if (process.env.LOOK_DIR) await admin.screenshot({ path: `${process.env.LOOK_DIR}/admin-opt-outs.png`, fullPage: true });
});
