import { test } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";
import { addContactAndStart, customerSays, expect, freshNumber, phone } from "./relay-helpers";

// The live sidebar: the sessions list and an open session show what the
// customer writes without a reload, with a count of unread messages.

test("the sessions list and an open session update by themselves", async ({ page, browser }) => {
  const number = freshNumber();
  const name = `Live Customer ${number.slice(-5)}`;
  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "SMS");

  // The list is open; the customer writes twice: a badge counts them.
  await page.goto("/sessions");
  await hydrated(page);
  const row = page.getByRole("listitem").filter({ has: page.getByRole("link", { name, exact: true }) });
  await expect(row.locator(".unread")).toHaveCount(0);
  const customer = await phone(browser, "sms", number);
  await customerSays(customer, "Is anyone there?");
  await customerSays(customer, "I have a question");
  await expect(row.locator(".unread")).toHaveText("2 unread");

  // Opening the session shows both and reads them; the next one arrives while it is open.
  await row.getByRole("link", { name, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);
  await hydrated(page);
  const transcript = page.getByRole("list", { name: "Messages" });
  await expect(transcript).toContainText("I have a question");
  await customerSays(customer, "About my delivery");
  await expect(transcript).toContainText("About my delivery");

  // Back on the list the count started again from the visit.
  await page.goto("/sessions");
  await hydrated(page);
  await expect(row.locator(".unread")).toHaveCount(0);
});
