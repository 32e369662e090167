import { test, expect } from "@playwright/test";

// The two Webex sign-ins, end to end through the sandbox's Webex stand-ins.

test("Sign in with Webex: OAuth code flow through the Webex sign-in page", async ({ page }) => {
  await page.goto("/sign-in");
  await page.getByRole("link", { name: "Sign in with Webex" }).click();
  await page.getByRole("button", { name: "Sign in as Agent B" }).click();
  await expect(page).toHaveURL(/\/contacts/);
  await expect(page.getByText("Agent B")).toBeVisible();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
});

test("inside Webex: the sidebar start page signs in with the Embedded App identity token", async ({ page }) => {
  await page.goto("/embedded?sandboxUser=agent-a@example.com");
  // The same start page as "/" for a signed-in agent.
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByText("Hello, Agent A.")).toBeVisible();
});

test("inside Webex: when Webex shares no identity the page says so and offers another way", async ({ page }) => {
  await page.goto("/embedded?sandboxUser=nobody@example.com");
  await expect(page.getByRole("alert")).toContainText("Webex did not share who you are");
  await expect(page.getByRole("link", { name: "Sign in another way" })).toBeVisible();
  await expect(page).toHaveURL(/\/embedded/);
});
