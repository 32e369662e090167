import { test, expect, Browser } from "@playwright/test";
import { accounts, api, hydrated, signIn, uniquePhone } from "./helpers";

test("sign-in refuses a wrong password clearly, then signs in and out", async ({ page }) => {
  await page.goto("/contacts");
  await expect(page.getByRole("heading", { name: "Please sign in" })).toBeVisible();
  await page.goto("/sign-in");
  await hydrated(page);
  await page.getByLabel("Email").fill(accounts.a.email);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toHaveText("email or password is wrong");
  await page.getByLabel("Password").fill(accounts.a.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/contacts/);
  await expect(page.getByText("Agent A")).toBeVisible();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/sign-in\?signed_out=1/);
  await page.goto("/contacts");
  await expect(page.getByRole("heading", { name: "Please sign in" })).toBeVisible();
});

test("forms work before hydration: sign in and add a contact with JavaScript off", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(accounts.a.email);
  await page.getByLabel("Password").fill("wrong-password-x");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toHaveText("email or password is wrong");
  await expect(page.getByLabel("Email")).toHaveValue(accounts.a.email);
  await page.getByLabel("Password").fill(accounts.a.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/contacts/);
  await page.getByRole("link", { name: "New contact" }).click();
  await page.getByLabel("Name").fill("No Script Customer");
  await page.getByLabel("Phone number").fill("12");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#msisdn-error")).toContainText("not a valid phone number");
  await expect(page.getByLabel("Name")).toHaveValue("No Script Customer");
  await page.getByLabel("Phone number").fill(uniquePhone());
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("Saved No Script Customer");
  await context.close();
});

test("contacts: empty search, create with field errors, edit, stale conflict, delete with confirmation", async ({ page, browser }) => {
  await signIn(page, accounts.a);
  await page.getByRole("searchbox", { name: "Search contacts" }).fill("zzz-nobody");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.getByText("No contacts match")).toBeVisible();

  await page.getByRole("link", { name: "New contact" }).click();
  await hydrated(page);
  await page.getByLabel("Name").fill("Grace Hopper");
  await page.getByLabel("Phone number").fill("+44 1");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#msisdn-error")).toHaveText(/not a valid phone number: too short/);
  const phone = uniquePhone();
  await page.getByLabel("Phone number").fill(phone);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("Saved Grace Hopper");

  await page.getByRole("searchbox", { name: "Search contacts" }).fill("grace");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: "Grace Hopper" }).click();
  await hydrated(page);
  const editUrl = page.url();

  // Someone else edits the same contact meanwhile.
  const other = await browser.newPage();
  await signIn(other, accounts.a);
  await other.goto(editUrl);
  await hydrated(other);
  await other.getByLabel("Name").fill("Grace B. Hopper");
  await other.getByRole("button", { name: "Save" }).click();
  await expect(other.getByRole("status")).toContainText("Saved Grace B. Hopper");
  await other.close();

  await page.getByLabel("Name").fill("Rear Admiral Hopper");
  await page.getByRole("button", { name: "Save" }).click();
  const conflict = page.getByRole("alert");
  await expect(conflict).toContainText("someone else changed this record");
  await expect(conflict).toContainText("Grace B. Hopper");

  await page.goto(editUrl);
  await page.getByRole("link", { name: "Delete…" }).click();
  await expect(page.getByRole("heading", { name: "Delete contact?" })).toBeVisible();
  await page.getByRole("link", { name: "Cancel" }).click();
  await expect(page).toHaveURL(editUrl);
  await page.getByRole("link", { name: "Delete…" }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Delete Grace B. Hopper" }).click();
  await expect(page.getByRole("status")).toContainText("Contact deleted");
});

test("sessions: mine, detail, take over and end; admins see all", async ({ page, request }) => {
  const phone = uniquePhone();
  const created = await api(request, "POST", "/api/v1/sessions", {
    customerChannel: "sms",
    customerChannelId: phone,
    collabAgentId: accounts.b.email,
  });
  expect(created.status).toBe(201);
  const id = created.body.id;

  await signIn(page, accounts.a);
  await page.getByRole("link", { name: "Sessions" }).click();
  // Numbers are shown as people write them: uniquePhone() is "+44 7700 900NNN".
  await expect(page.getByRole("list", { name: "Sessions" }).getByRole("link", { name: phone })).toHaveCount(0);
  await page.goto(`/sessions/${id}`);
  await expect(page.getByRole("alert")).toContainText("no such session");

  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, accounts.admin);
  await page.goto("/sessions?scope=all");
  await page.getByRole("link", { name: phone }).first().click();
  await hydrated(page);
  // The session's facts (its conversations below name their agents too).
  const facts = page.locator("dl.facts");
  await expect(facts.getByText(accounts.b.email)).toBeVisible();
  await page.getByRole("button", { name: "Take over" }).click();
  await expect(page.getByRole("status")).toHaveText("You now have this customer");
  await expect(facts.getByText(accounts.admin.email)).toBeVisible();
  // Taking over closed B's conversation and opened the admin's.
  const conversations = page.getByRole("list", { name: "Conversations" }).getByRole("listitem");
  await expect(conversations).toHaveCount(2);
  await expect(conversations.filter({ hasText: accounts.b.email })).toContainText("passed to another agent");
  // Ending asks first; Cancel would leave the session as it is.
  await page.getByRole("link", { name: "End session" }).click();
  const confirm = page.getByRole("alertdialog", { name: "End this session?" });
  await expect(confirm).toContainText("will no longer reach the customer");
  await confirm.getByRole("button", { name: "End session" }).click();
  await expect(page.getByRole("status")).toHaveText("Session ended");
  await expect(page.getByText("Ended", { exact: true })).toBeVisible();
  const after = await api(request, "GET", `/api/v1/sessions/${id}`);
  expect(after.body.collabAgentId).toBe(accounts.admin.email);
  expect(after.body.status).toBe("ended");
});

test("admin: each section on its own page; API key shown once, revoked after confirmation; agents; audit log; agents cannot open it", async ({ page }) => {
  await signIn(page, accounts.admin);
  await page.getByRole("link", { name: "Admin" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Admin");
  const sections = page.getByRole("navigation", { name: "Admin sections" });

  await page.getByRole("main").getByRole("listitem").getByRole("link", { name: "API keys" }).click();
  await expect(page).toHaveURL(/\/admin\/keys$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("API keys");
  await expect(sections.getByRole("link", { name: "API keys" })).toHaveAttribute("aria-current", "page");
  await hydrated(page);
  const name = `flows-${Date.now()}`;
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create key" }).click();
  const key = page.getByLabel("New API key");
  await expect(key).toHaveText(/^cm_[0-9a-f]{64}$/);
  await page.reload();
  await expect(page.getByText(/^cm_[0-9a-f]{64}$/)).toHaveCount(0);
  const row = page.getByRole("list", { name: "API keys" }).getByRole("listitem").filter({ hasText: name });
  // Revoking asks first.
  await expect(row.getByRole("button", { name: `Revoke key ${name}` })).toBeHidden();
  await row.getByText("Revoke…").click();
  await row.getByRole("button", { name: `Revoke key ${name}` }).click();
  await expect(page.getByRole("status")).toHaveText("Key revoked");
  await expect(page.getByRole("list", { name: "API keys" }).getByRole("listitem").filter({ hasText: name })).toContainText("revoked");

  await sections.getByRole("link", { name: "Agents" }).click();
  await expect(page).toHaveURL(/\/admin\/agents$/);
  const agents = page.getByRole("list", { name: "Agents" });
  // An admin cannot demote or disable themselves.
  const self = agents.getByRole("listitem").filter({ hasText: accounts.admin.email });
  await expect(self).toContainText("(you)");
  await expect(self.getByRole("button")).toHaveCount(0);
  await page.getByLabel("Email").fill("new.agent@example.com");
  await page.getByRole("button", { name: "Add agent" }).click();
  await expect(agents).toContainText("new.agent@example.com");
  const added = agents.getByRole("listitem").filter({ hasText: "new.agent@example.com" });
  await expect(added.getByRole("button", { name: "Disable new.agent@example.com" })).toBeHidden();
  await added.locator("summary").click();
  await expect(added).toContainText("signed out everywhere at once");
  await added.getByRole("button", { name: "Disable new.agent@example.com" }).click();
  await expect(agents.getByRole("listitem").filter({ hasText: "new.agent@example.com" })).toContainText("disabled");

  await sections.getByRole("link", { name: "Integrations" }).click();
  const integrations = page.getByRole("list", { name: "Integrations" });
  await expect(integrations).toContainText("Webex Connect startConversation webhook");
  // Which guest app is in use, and that it works (the sandbox's Service App answers).
  const guests = integrations.getByRole("listitem").filter({ hasText: "Webex guests" });
  await expect(guests).toContainText("Service App guest management");
  await expect(guests).toContainText(/works \(the Service App has \d+ guests\)/);
  await page.getByRole("button", { name: "Check guests' webhooks now" }).click();
  await expect(integrations.getByRole("listitem").filter({ hasText: "Guests' Webex webhooks" })).toContainText(/\d+ active.*\(checked /);

  await sections.getByRole("link", { name: "Undelivered" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Undelivered");
  await expect(page.getByText(/Nothing undelivered|attempts/).first()).toBeVisible();

  await sections.getByRole("link", { name: "Audit log" }).click();
  await page.locator("summary", { hasText: "Filters" }).click();
  await page.getByLabel("Action").fill("api_key.revoke");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/action=api_key\.revoke/);
  await expect(page.getByRole("list", { name: "Audit entries" })).toContainText("api_key.revoke");
  await expect(page.getByRole("list", { name: "Audit entries" })).not.toContainText("contact.");

  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, accounts.a);
  await expect(page.getByRole("link", { name: "Admin" })).toHaveCount(0);
  for (const path of ["/admin", "/admin/keys", "/admin/audit"]) {
    await page.goto(path);
    await expect(page.getByRole("alert")).toHaveText("Only admins can see this page.");
  }
});

test("admin: the audit log pages through entries, newest first, keeping its filters", async ({ page, request }) => {
  // 30 contacts made through the API: 30 audit entries by the test's API key.
  const stamp = Date.now();
  for (let i = 0; i < 30; i++) {
    const made = await api(request, "POST", "/api/v1/contacts", { name: `Audit Page ${stamp}-${i}`, msisdn: `+4477006${String(stamp).slice(-2)}${String(i).padStart(3, "0")}` });
    expect(made.status).toBe(201);
  }
  await signIn(page, accounts.admin);
  await page.goto("/admin/audit?action=contact.create&actor=e2e");
  const entries = page.getByRole("list", { name: "Audit entries" }).getByRole("listitem");
  await expect(entries).toHaveCount(25);
  const pages = page.getByRole("navigation", { name: "Audit log pages" });
  await expect(pages).toContainText("Page 1");
  await expect(pages.getByRole("link", { name: "Newer" })).toHaveCount(0);
  await pages.getByRole("link", { name: "Older" }).click();
  await expect(pages).toContainText("Page 2");
  await expect(page).toHaveURL(/action=contact\.create/);
  await expect(page).toHaveURL(/actor=e2e/);
  expect(await entries.count()).toBeGreaterThanOrEqual(5);
  for (const text of await entries.allTextContents()) expect(text).toContain("contact.create");
  await pages.getByRole("link", { name: "Newer" }).click();
  await expect(pages).toContainText("Page 1");
  await expect(entries).toHaveCount(25);
  // No match: the page says so.
  await page.goto("/admin/audit?action=no-such-action");
  await expect(page.getByText("No entries match these filters.")).toBeVisible();
});

test("fits the 320 px sidebar, keyboard focus is visible", async ({ page }) => {
  await page.setViewportSize({ width: 320, height: 720 });
  await signIn(page, accounts.a);
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  for (const path of ["/contacts", "/contacts/new", "/sessions", "/sign-in"]) {
    await page.goto(path);
    expect(await overflow(), path).toBe(0);
  }
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, accounts.admin);
  for (const path of ["/admin", "/admin/agents", "/admin/keys", "/admin/integrations", "/admin/undelivered", "/admin/audit"]) {
    await page.goto(path);
    await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    expect(await overflow(), path).toBe(0);
  }
  await page.goto("/contacts");
  await page.screenshot({ path: "test-results/contacts-320.png", fullPage: true });
  await page.keyboard.press("Tab");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle);
  expect(outline).not.toBe("none");
});

test("CSV import shows progress and names the bad rows; export downloads every contact", async ({ page }) => {
  await signIn(page, accounts.a);
  await page.getByRole("link", { name: "Import / export" }).click();
  await hydrated(page);
  const stamp = String(Date.now()).slice(-3);
  const rows = ["name,msisdn"];
  // +44 77008…: a range no other test uses (they pick random +44 77009… numbers).
  for (let i = 0; i < 60; i++) rows.push(`Imported ${stamp}-${i},+4477008${stamp}${String(i).padStart(2, "0")}`);
  rows.push(`Broken ${stamp},12`);
  rows.push(`,+447700911111`);
  await page.getByLabel("CSV file").setInputFiles({ name: "contacts.csv", mimeType: "text/csv", buffer: Buffer.from(rows.join("\n")) });
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page.getByRole("status")).toContainText("62 of 62 rows processed");
  await expect(page.getByRole("status")).toContainText("60 contacts added, 2 rows refused");
  const bad = page.getByRole("list", { name: "Rows not imported" });
  await expect(bad).toContainText("Row 62");
  await expect(bad).toContainText("msisdn: not a valid phone number");
  await expect(bad).toContainText("Row 63");
  await expect(bad).toContainText("name: is required");

  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Export all contacts as CSV" }).click();
  const file = await download;
  const text = require("fs").readFileSync(await file.path(), "utf8");
  expect(text.split("\n")[0]).toBe("id,name,msisdn,whatsapp,sms,ownerAgentId,createdAt,updatedAt");
  expect(text).toContain(`Imported ${stamp}-59`);
});
