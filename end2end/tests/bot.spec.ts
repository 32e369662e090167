import { test } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";
import { businessMessages, customerSays, expect, freshNumber, phone } from "./relay-helpers";

// Bot hand-over, on a server whose new customers talk to the sandbox's
// scripted bot first (CM_SANDBOX_BOT=true, CM_BOT_RETRY_SECONDS=1,1,1,1).

test("a new customer talks to the bot, which hands them over to the agent they name", async ({ page, browser }) => {
  const customer = await phone(browser, "sms", freshNumber());
  await customerSays(customer, "Hi");
  await expect(businessMessages(customer, "I am the sandbox's bot")).toBeVisible();
  await customerSays(customer, "What are your hours?");
  await expect(businessMessages(customer, "Monday to Friday")).toBeVisible();
  await customerSays(customer, "An agent please: agent-a@example.com");
  await expect(businessMessages(customer, "You are now connected with Agent A")).toBeVisible();

  // The admins' page counts it.
  await signIn(page, accounts.admin);
  await page.goto("/admin/bot");
  const facts = page.getByRole("definition");
  await expect(facts.filter({ hasText: "Active: new customers talk to the bot first" })).toBeVisible();
  await expect(facts.filter({ hasText: /\d+ handed over/ })).toBeVisible();
});

test("a bot that stops answering is made inactive; an admin sees why and reactivates it", async ({ page, browser, request }) => {
  // Every call to the bot fails: one message's five tries make five in a row.
  const fault = await request.post("/sandbox/control/faults", {
    data: { path: "/bot/webhook", method: "POST", count: 1000, kind: "status", status: 503 },
  });
  expect(fault.ok()).toBeTruthy();
  try {
    const customer = await phone(browser, "sms", freshNumber());
    await customerSays(customer, "Hello");
    // Not lost: after the last retry the customer is asked as if there were no bot.
    await expect(businessMessages(customer, "what is your name?")).toBeVisible();

    await signIn(page, accounts.admin);
    await page.goto("/admin/bot");
    await hydrated(page);
    const facts = page.getByRole("definition");
    await expect(facts.filter({ hasText: "Inactive: customers go straight to agents" })).toBeVisible();
    await expect(facts.filter({ hasText: "HTTP 503" })).toBeVisible();
    // While inactive, a new customer goes straight to the dialogue.
    const next = await phone(browser, "sms", freshNumber());
    await customerSays(next, "Hello");
    await expect(businessMessages(next, "what is your name?")).toBeVisible();

    await request.delete("/sandbox/control/faults");
    await page.getByRole("button", { name: "Reactivate the bot" }).click();
    await expect(page.getByRole("status").filter({ hasText: "The bot is active again" })).toBeVisible();
    await expect(facts.filter({ hasText: "Active: new customers talk to the bot first" })).toBeVisible();
    await expect(page.getByRole("button", { name: "Reactivate the bot" })).toHaveCount(0);
  } finally {
    await request.delete("/sandbox/control/faults");
  }
  const later = await phone(browser, "sms", freshNumber());
  await customerSays(later, "Hi");
  await expect(businessMessages(later, "I am the sandbox's bot")).toBeVisible();
});
