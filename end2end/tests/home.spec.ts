import { test, expect } from "@playwright/test";

test("the start page renders on the server and hydrates", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  await expect(page).toHaveTitle("Contact Manager");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Contact Manager");

  const toggle = page.getByRole("button", { name: "Show setup steps" });
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  // The click only does something once the wasm bundle has hydrated the page.
  await expect(async () => {
    await toggle.click();
    await expect(page.getByRole("button", { name: "Hide setup steps" })).toBeVisible({ timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByRole("list")).toContainText("create-api-key");
  await page.getByRole("button", { name: "Hide setup steps" }).click();
  await expect(page.getByRole("button", { name: "Show setup steps" })).toHaveAttribute("aria-expanded", "false");
  expect(errors).toEqual([]);
});

test("the start page fits the 320 px Webex sidebar", async ({ page }) => {
  await page.setViewportSize({ width: 320, height: 640 });
  await page.goto("/");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBe(0);
});
