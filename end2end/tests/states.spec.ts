import { test, expect, Page } from "@playwright/test";
import { accounts, api, hydrated, signIn, uniquePhone } from "./helpers";

// What a page says while it waits, and when the server cannot be reached.
// The browser's calls to the server's functions (/api/…, not /api/v1) are
// slowed down, or refused as a stopped server refuses them.

const serverFunctions = /\/api\/(?!v1\/)/;

async function slowServer(page: Page, ms: number) {
  await page.route(serverFunctions, async (route) => {
    await new Promise((r) => setTimeout(r, ms));
    await route.continue().catch(() => {});
  });
}

async function stoppedServer(page: Page) {
  await page.route(serverFunctions, (route) => route.abort("connectionrefused"));
}

test("slow network: lists and actions say they are working", async ({ page, request }) => {
  // Enough audit entries for a second page, whatever ran before.
  const stamp = String(Date.now()).slice(-2);
  for (let i = 0; i < 26; i++) {
    const made = await api(request, "POST", "/api/v1/contacts", { name: `Slow List ${stamp}-${i}`, msisdn: `+4477005${stamp}${String(i).padStart(3, "0")}` });
    expect(made.status).toBe(201);
  }
  await signIn(page, accounts.admin);
  await hydrated(page);
  await slowServer(page, 1_500);

  // Moving to another page: its list says it is loading, then shows.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Sessions" }).click();
  await expect(page.getByText("Loading sessions…")).toBeVisible();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Sessions");
  await expect(page.getByText("Loading sessions…")).toHaveCount(0, { timeout: 10_000 });

  // Admin lists, one after the other.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).click();
  await page.getByRole("main").getByRole("listitem").getByRole("link", { name: "Agents" }).click();
  await expect(page.getByText("Loading agents…")).toBeVisible();
  await expect(page.getByRole("list", { name: "Agents" })).toBeVisible({ timeout: 10_000 });

  // Saving a contact: the button says so and cannot be pressed twice.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Contacts" }).click();
  await page.getByRole("link", { name: "New contact" }).click();
  await expect(page.getByLabel("Name")).toBeVisible({ timeout: 10_000 });
  const name = `Slow Save ${Date.now() % 100000}`;
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Phone number").fill(uniquePhone());
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("button", { name: "Saving…" })).toBeDisabled();
  await expect(page.getByRole("status")).toContainText(`Saved ${name}`, { timeout: 10_000 });

  // Another page of a list: the rows stay, a line says the next ones are coming.
  await page.goto("/admin/audit");
  await hydrated(page);
  await page.getByRole("navigation", { name: "Audit log pages" }).getByRole("link", { name: "Older" }).click();
  await expect(page.getByText("Loading the audit log…")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Audit log pages" })).toContainText("Page 2", { timeout: 10_000 });
});

test("server unreachable: pages and actions say what happened, and can try again", async ({ page }) => {
  await signIn(page, accounts.admin);
  await hydrated(page);
  await stoppedServer(page);
  const unreachable = "could not reach the server: check your connection, then try again";

  // A list that cannot load says why and offers to try again.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Sessions" }).click();
  const alert = page.getByRole("alert");
  await expect(alert).toContainText(unreachable);
  await page.unroute(serverFunctions);
  await alert.getByRole("button", { name: "Try again" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Sessions");
  await expect(page.getByRole("alert")).toHaveCount(0);

  // Each admin section, the same.
  await stoppedServer(page);
  for (const section of ["Agents", "API keys", "Integrations", "Undelivered", "Audit log"]) {
    await page.goto("/admin");
    await hydrated(page);
    await page.getByRole("main").getByRole("listitem").getByRole("link", { name: section }).click();
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(section);
    await expect(page.getByRole("alert"), section).toContainText(unreachable);
  }

  // An action: the form keeps what was typed and says it was not saved.
  await page.unroute(serverFunctions);
  await page.goto("/contacts/new");
  await hydrated(page);
  await stoppedServer(page);
  await page.getByLabel("Name").fill("Never Saved");
  await page.getByLabel("Phone number").fill(uniquePhone());
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText(unreachable);
  await expect(page.getByLabel("Name")).toHaveValue("Never Saved");

  // Signing out cannot happen either, and the page says so.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Not signed out" })).toContainText(unreachable);
});

test("empty lists say so and what to do", async ({ page }) => {
  await signIn(page, accounts.b);
  // Other tests leave contacts behind; a search that matches nothing is always empty.
  await page.goto("/contacts?q=no-such-contact-anywhere");
  await expect(page.getByText("No contacts match “no-such-contact-anywhere”.")).toBeVisible();
  await expect(page.getByRole("link", { name: "Show all contacts" })).toBeVisible();
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, accounts.admin);
  await page.goto("/admin/audit?action=nothing-like-this");
  await expect(page.getByText("No entries match these filters.")).toBeVisible();
  await page.goto("/admin/undelivered");
  await expect(page.getByText(/Nothing undelivered|attempts ·/).first()).toBeVisible();
});
