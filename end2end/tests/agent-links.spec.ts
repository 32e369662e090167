import { test, expect } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";

// The sandbox gives the business numbers demo values (README: CM_WHATSAPP_BUSINESS_NUMBER, CM_SMS_NUMBER).
test("My links shows the agent's WhatsApp and SMS links and their QR codes, without the email", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, accounts.a);
  await page.getByRole("link", { name: "My links" }).click();
  await expect(page).toHaveURL(/\/links$/);
  await expect(page.getByRole("heading", { name: "My links" })).toBeVisible();

  await expect(page.getByRole("img", { name: "QR code: WhatsApp link to Agent A" })).toBeVisible();
  await expect(page.getByRole("img", { name: "QR code: SMS link to Agent A" })).toBeVisible();
  const whatsapp = page.getByRole("textbox", { name: "WhatsApp link" });
  const sms = page.getByRole("textbox", { name: "SMS link" });
  await expect(whatsapp).toHaveValue(/^https:\/\/wa\.me\/447700900100\?text=webexAgent_[0-9a-f]{10}$/);
  await expect(sms).toHaveValue(/^sms:\+447700900200\?body=webexAgent_[0-9a-f]{10}$/);
  await expect(page.getByRole("link", { name: "Open the WhatsApp link" })).toHaveAttribute("href", /^https:\/\/wa\.me\//);
  const keyword = (await whatsapp.inputValue()).split("text=")[1];
  expect(await sms.inputValue()).toContain(keyword);
  expect(await page.locator("main").innerHTML()).not.toContain("agent-a@example.com");

  // Focusing a link's text selects it, ready to copy.
  await hydrated(page);
  await whatsapp.focus();
  expect(await whatsapp.evaluate((el: HTMLInputElement) => el.selectionEnd! - el.selectionStart!)).toBe(
    (await whatsapp.inputValue()).length,
  );

  // The printable view: the sheet alone, with instructions for the customer.
  await page.getByRole("link", { name: "Printable view" }).click();
  await expect(page).toHaveURL(/\/links\?print=1$/);
  await expect(page.getByRole("heading", { name: "Chat with Agent A" })).toBeVisible();
  await expect(page.getByText("Scan a code with your phone's camera")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" })).toBeHidden();
  await expect(page.getByRole("img", { name: "QR code: SMS link to Agent A" })).toBeVisible();
  expect(errors).toEqual([]);
});

test("an admin opens another agent's links from the agents page; an agent cannot", async ({ page, browser }) => {
  await signIn(page, accounts.admin);
  await page.goto("/admin/agents");
  await page.getByRole("link", { name: "Links and QR codes of Agent B" }).click();
  await expect(page.getByRole("heading", { name: "Links of Agent B" })).toBeVisible();
  await expect(page.getByRole("img", { name: "QR code: WhatsApp link to Agent B" })).toBeVisible();
  const url = page.url();

  const context = await browser.newContext();
  const other = await context.newPage();
  await signIn(other, accounts.a);
  await other.goto(url);
  await expect(other.getByText("only admins can do this")).toBeVisible();
  await context.close();
});
