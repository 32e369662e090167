import { test, expect, Page } from "@playwright/test";
import { accounts, api, hydrated, signIn, uniquePhone } from "./helpers";

// Numbers are shown as people write them (+44 7700 900123), times in the
// reader's time zone (the browser's), relative when recent, one format everywhere.

const zone = "Asia/Kolkata"; // UTC+05:30: no daylight saving, never the server's zone

function localClock(iso: string): string {
  return new Date(iso).toLocaleTimeString("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false });
}

function localParts(iso: string) {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, weekday: "short", day: "numeric", month: "short", year: "numeric" })
    .formatToParts(new Date(iso));
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return { weekday: get("weekday"), day: get("day"), month: get("month"), year: get("year") };
}

async function newSession(request: any, phone: string) {
  const created = await api(request, "POST", "/api/v1/sessions", {
    customerChannel: "sms",
    customerChannelId: phone,
    collabAgentId: accounts.admin.email,
  });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

function started(page: Page) {
  return page.locator("dt", { hasText: "Started" }).locator("+ dd time");
}

test("numbers in international format; times local to the browser, relative when recent", async ({ browser, request }) => {
  const context = await browser.newContext({ timezoneId: zone });
  const page = await context.newPage();
  await signIn(page, accounts.admin);

  // A contact typed in the national form is shown in the international one.
  const phone = uniquePhone(); // "+44 7700 900NNN"
  const national = "0" + phone.slice(4).replace(/ /g, "");
  await page.getByRole("link", { name: "New contact" }).click();
  await hydrated(page);
  const name = `Format Check ${phone.slice(-3)}`;
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Phone number").fill(national);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText(`Saved ${name}`);
  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await expect(page.getByRole("list", { name: "Contacts" }).getByRole("listitem").filter({ hasText: name })).toContainText(phone);

  // A session without a contact is named by its number, formatted.
  const other = uniquePhone();
  const id = await newSession(request, other.replace(/ /g, ""));
  await page.goto("/sessions");
  await expect(page.getByRole("list", { name: "Sessions" }).getByRole("link", { name: other })).toBeVisible();
  await page.goto(`/sessions/${id}`);
  await hydrated(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(other);
  await expect(page.locator("dt", { hasText: "Customer" }).locator("+ dd")).toHaveText(other);

  // Just made: relative, with the exact local time on hover.
  const time = started(page);
  await expect(time).toHaveText(/^(just now|\d+ min ago)$/);
  const iso = (await time.getAttribute("datetime"))!;
  await expect(time).toHaveAttribute("title", new RegExp(`${localClock(iso)}:\\d\\d UTC\\+05:30$`));

  // Seen three days later: the weekday and the local time; a year later: the full date.
  const at = new Date(iso).getTime();
  const later = await context.newPage();
  await later.clock.setFixedTime(new Date(at + 3 * 24 * 3600_000));
  await later.goto(`/sessions/${id}`);
  await hydrated(later);
  const p = localParts(iso);
  await expect(started(later)).toHaveText(`${p.weekday} ${localClock(iso)}`);
  await later.clock.setFixedTime(new Date(at + 400 * 24 * 3600_000));
  await later.reload();
  await hydrated(later);
  await expect(started(later)).toHaveText(`${p.day} ${p.month} ${p.year} ${localClock(iso)}`);
  await context.close();

  // Without JavaScript the page cannot know the reader's zone: it says UTC.
  const plain = await browser.newContext({ javaScriptEnabled: false, timezoneId: zone });
  const noScript = await plain.newPage();
  await noScript.goto("/sign-in");
  await noScript.getByLabel("Email").fill(accounts.admin.email);
  await noScript.getByLabel("Password").fill(accounts.admin.password);
  await noScript.getByRole("button", { name: "Sign in", exact: true }).click();
  await noScript.goto(`/sessions/${id}`);
  await expect(started(noScript)).toHaveText(/^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d UTC$/);
  await plain.close();
});
