import { test } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";
import { addContactAndStart, customerSays, expect, freshNumber, phone } from "./relay-helpers";

// Admin › Message log as an admin uses it: a customer writes, the admin
// searches by the customer's number (a GET form, so the search is a link),
// opens the message and reads its hops, oldest first.

test("an admin finds a customer's message by number and reads its hops", async ({ page, browser }) => {
  const number = freshNumber();
  const name = `Log Customer ${number.slice(-5)}`;
  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "SMS");
  const customer = await phone(browser, "sms", number);
  const words = `Where is parcel ${number.slice(-5)}?`;
  await customerSays(customer, words);

  const admin = await browser.newPage();
  await signIn(admin, accounts.admin);
  await admin.goto("/admin");
  await admin.getByRole("navigation", { name: "Admin sections" }).getByRole("link", { name: "Message log" }).click();
  await hydrated(admin);
  const form = admin.getByRole("search", { name: "Search the message log" });
  await form.getByLabel("Customer number").fill(number.replace("+44", "0"));
  await form.getByRole("button", { name: "Search" }).click();
  await expect(admin).toHaveURL(/\/admin\/messages\?.*customer=/);
  const found = admin.getByRole("list", { name: "Messages" }).getByRole("listitem").filter({ hasText: words });
  // The worker may not have posted it yet when the search first runs.
  await expect(async () => {
    await admin.reload();
    await expect(found).toHaveCount(1, { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(found).toContainText("From the customer");

  await found.getByRole("link", { name: words }).click();
  await expect(admin).toHaveURL(/\/admin\/messages\/[0-9a-f-]+$/);
  await hydrated(admin);
  await expect(admin.getByRole("region", { name: "Message" })).toContainText(words);
  const hops = admin.getByRole("list", { name: "Timeline" }).getByRole("listitem");
  // The post into the agent's space may still be on its way.
  await expect(async () => {
    await admin.reload();
    await expect(hops.filter({ hasText: "Post to the agent try 1: done" })).toHaveCount(1, { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(hops.first()).toContainText("Received from the customer");
  await expect(admin.getByRole("table", { name: "Tries" })).toContainText("Webex posted it");
  if (process.env.LOOK_DIR) await admin.screenshot({ path: `${process.env.LOOK_DIR}/admin-message-log.png`, fullPage: true });

  // A bad date is named, and changes nothing.
  await admin.goto("/admin/messages?from=someday");
  await expect(admin.getByRole("alert")).toContainText("From: must be a date");
});
