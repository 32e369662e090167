import { test, expect } from "@playwright/test";
import { readFile } from "node:fs/promises";
import { accounts, api, hydrated, signIn, uniquePhone } from "./helpers";

// Admin › Privacy: find what is held about a number, download it, erase it
// after typing the number again.

test("an admin finds a customer, exports the data and erases it after confirming", async ({ page, request }) => {
  const phone = uniquePhone();
  const created = await api(request, "POST", "/api/v1/contacts", { name: "Petra Privacy", msisdn: phone });
  expect(created.status).toBe(201);
  const e164 = created.body.msisdn as string;

  await signIn(page, accounts.admin);
  await page.goto("/admin/privacy");
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Privacy", level: 1 })).toBeVisible();
  await expect(page.getByRole("list", { name: "Retention in force" })).toContainText("Transcripts: kept for ever");

  // A bad number is named, and nothing is shown.
  await page.getByLabel("Phone number").fill("call me");
  await page.getByRole("button", { name: "Find", exact: true }).click();
  await expect(page.locator("#privacy-number-error")).toContainText("not a valid phone number");

  await page.getByLabel("Phone number").fill(phone);
  await page.getByRole("button", { name: "Find", exact: true }).click();
  const held = page.getByRole("definition").first();
  await expect(page.getByRole("heading", { name: /^Held about \+44 7700 900/ })).toBeVisible();
  await expect(held).toHaveText("1");

  // Export JSON downloads everything held.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Export JSON" }).click(),
  ]);
  const exported = JSON.parse(await readFile((await download.path())!, "utf8"));
  expect(exported.number).toBe(e164);
  expect(exported.contacts[0].name).toBe("Petra Privacy");

  // Erasing asks for the number again; another number erases nothing.
  await page.getByText("Erase this customer…").click();
  await page.getByLabel("Type the number to confirm").fill("+44 7700 900000");
  await page.getByRole("button", { name: "Erase for good" }).click();
  await expect(page.locator("#privacy-confirm-error")).toContainText("not the number being erased");
  expect((await api(request, "GET", `/api/v1/contacts?msisdn=${encodeURIComponent(e164)}`)).body.total).toBe(1);

  await page.getByLabel("Type the number to confirm").fill(phone);
  await page.getByRole("button", { name: "Erase for good" }).click();
  const summary = page.getByRole("status").filter({ has: page.getByRole("heading", { name: "Erased" }) });
  await expect(summary).toBeVisible();
  await expect(summary.getByRole("definition").first()).toHaveText("1");
  await expect(page.getByRole("heading", { name: /^Held about/ })).toHaveCount(0);
  expect((await api(request, "GET", `/api/v1/contacts?msisdn=${encodeURIComponent(e164)}`)).body.total).toBe(0);

  // Found again: nothing is held.
  await page.getByLabel("Phone number").fill(phone);
  await page.getByRole("button", { name: "Find", exact: true }).click();
  await expect(page.getByText("Nothing is held about this number.")).toBeVisible();
});

test("agents who are not admins cannot reach the privacy page", async ({ page }) => {
  await signIn(page, accounts.a);
  await page.goto("/admin/privacy");
  await expect(page.getByRole("alert")).toContainText("Only admins can see this page.");
  await expect(page.getByLabel("Phone number")).toHaveCount(0);
});
