import { Page, expect, APIRequestContext } from "@playwright/test";

export const accounts = {
  admin: { email: "admin@example.com", password: "admin-password-e2e", name: "Ada Admin" },
  a: { email: "agent-a@example.com", password: "agent-a-password-e2e", name: "Agent A" },
  b: { email: "agent-b@example.com", password: "agent-b-password-e2e", name: "Agent B" },
};

/** Waits until the wasm bundle has hydrated the page. */
export async function hydrated(page: Page) {
  await page.waitForFunction(() => (window as any).__cm_hydrated === true, null, { timeout: 15_000 });
}

export async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto("/sign-in");
  await hydrated(page);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/contacts/);
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
}

/** Calls the REST API as Webex Connect would. */
export async function api(request: APIRequestContext, method: string, path: string, data?: unknown) {
  const response = await request.fetch(path, {
    method,
    headers: { key: process.env.E2E_API_KEY ?? "", "content-type": "application/json" },
    data: data === undefined ? undefined : JSON.stringify(data),
  });
  return { status: response.status(), body: response.status() === 204 ? null : await response.json() };
}

export function uniquePhone(): string {
  const n = Math.floor(Math.random() * 900) + 100;
  return `+44 7700 900${n}`;
}
