import { test } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";
import { addContactAndStart, customerSays, expect, freshNumber, phone } from "./relay-helpers";

// A contact's conversations as an agent meets them: the contact's page
// lists them, one opens with its transcript, closing asks first and takes
// a reason, the customer is then told the conversation has ended, and a
// closed conversation can be reopened.

test("an agent reads, closes and reopens a contact's conversation", async ({ page, browser }) => {
  const number = freshNumber();
  const name = `Convo Customer ${number.slice(-5)}`;
  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "SMS");
  const customer = await phone(browser, "sms", number);
  await customerSays(customer, "Is my parcel on its way?");

  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await page.getByRole("link", { name, exact: true }).click();
  await hydrated(page);
  const list = page.getByRole("list", { name: "Conversations" });
  await expect(list.getByRole("listitem")).toHaveCount(1);
  await expect(list.getByRole("listitem")).toContainText("Open");
  await list.getByRole("link").click();

  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Conversation with ${name}`);
  await hydrated(page);
  await expect(page.getByRole("list", { name: "Messages" })).toContainText("Is my parcel on its way?");
  await page.getByRole("link", { name: "Close conversation" }).click();
  const confirm = page.getByRole("alertdialog");
  await expect(confirm).toContainText("Close this conversation?");
  await confirm.getByLabel("Reason (optional)").fill("answered");
  await confirm.getByRole("button", { name: "Close conversation" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Conversation closed" })).toBeVisible();
  await expect(page.locator("dl.facts")).toContainText("Closed by the agent (answered)");
  if (process.env.LOOK_DIR) await page.screenshot({ path: `${process.env.LOOK_DIR}/conversation-closed.png`, fullPage: true });

  // The customer's next message is answered: the conversation has ended.
  await customerSays(customer, "Hello?");
  await expect(customer.getByRole("log", { name: "Conversation" })).toContainText("has ended");

  await page.getByRole("button", { name: "Reopen" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Conversation reopened" })).toBeVisible();
  await expect(page.locator("dl.facts")).toContainText("Reopened");
  await expect(page.locator("dl.facts dd").nth(3)).toHaveText("Open");

  // Another agent does not see it: it is Agent A's.
  const other = await browser.newPage();
  await signIn(other, accounts.b);
  const response = await other.goto(page.url());
  expect(response?.status()).toBe(404);
  await expect(other.getByText("no such conversation, or it is not yours")).toBeVisible();
});
