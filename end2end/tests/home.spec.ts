import { test, expect } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";

test("signed out, the start page leads to sign-in with the ways this server offers", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/sign-in/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  // The sandbox configures both Webex sign-ins besides local accounts.
  await expect(page.getByRole("link", { name: "Sign in with Webex" })).toBeVisible();
  await expect(page.getByText("open Contact Manager from the sidebar")).toBeVisible();
  await expect(page.getByLabel("Email")).toBeVisible();
});

test("signed in, the start page says where the work is; admins also see the Connect setup", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, accounts.admin);
  await page.getByRole("link", { name: "Contact Manager" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page).toHaveTitle("Contact Manager");
  await expect(page.getByText(`Hello, ${accounts.admin.name}.`)).toBeVisible();
  await expect(page.getByRole("main").getByRole("link", { name: "Sessions" })).toBeVisible();
  await expect(page.getByText(/\d+ contacts?\b/)).toBeVisible();

  await page.reload();
  await hydrated(page);
  const toggle = page.getByRole("button", { name: "Show setup steps" });
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await toggle.click();
  await expect(page.getByRole("button", { name: "Hide setup steps" })).toHaveAttribute("aria-expanded", "true");
  await expect(page.locator("#setup-steps")).toContainText("create-api-key");
  await page.getByRole("button", { name: "Hide setup steps" }).click();
  await expect(page.getByRole("button", { name: "Show setup steps" })).toHaveAttribute("aria-expanded", "false");
  expect(errors).toEqual([]);
});

test("agents see their work without the admin's setup card", async ({ page }) => {
  await signIn(page, accounts.a);
  await page.goto("/");
  await expect(page.getByText(`Hello, ${accounts.a.name}.`)).toBeVisible();
  await expect(page.getByRole("button", { name: "Show setup steps" })).toHaveCount(0);
});

test("the start page and sign-in fit the 320 px Webex sidebar", async ({ page }) => {
  await page.setViewportSize({ width: 320, height: 640 });
  const overflow = () =>
    page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.goto("/");
  await expect(page).toHaveURL(/\/sign-in/);
  expect(await overflow()).toBe(0);
  await signIn(page, accounts.a);
  await page.goto("/");
  await expect(page.getByText(`Hello, ${accounts.a.name}.`)).toBeVisible();
  expect(await overflow()).toBe(0);
});
