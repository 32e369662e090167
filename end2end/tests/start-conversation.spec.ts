import { test, expect } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";

// The Start conversation buttons post the seed's exact payload to the
// configured Connect inbound webhook: here the sandbox's, which records it.

test("WhatsApp and SMS buttons send the seed's payload to Connect, once per click", async ({ page, request }) => {
  await signIn(page, accounts.a);
  await page.getByRole("link", { name: "New contact" }).click();
  await hydrated(page);
  const digits = "4477009" + String(Date.now()).slice(-5);
  const name = `Starter ${digits.slice(-5)}`;
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Phone number").fill("+" + digits);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText(`Saved ${name}`);
  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await hydrated(page);

  // The sandbox keeps every body exactly as it arrived.
  const events = async () => {
    const r = await request.get("/sandbox/control/events/CMSTART001");
    const { items } = await r.json();
    return (items as { body: string }[])
      .map((e) => JSON.parse(e.body))
      .filter((b) => String(b.channelId).includes(digits));
  };

  const whatsapp = page.getByRole("button", { name: `Start WhatsApp conversation with ${name}` });
  await whatsapp.dblclick();
  await expect(page.getByRole("status").filter({ hasText: "conversation with" })).toContainText(`WhatsApp conversation with ${name}`);
  await expect.poll(async () => (await events()).length).toBe(1);
  expect((await events())[0]).toEqual({
    systemId: "webex",
    channel: "whatsapp",
    channelId: digits,
    action: "startConversation",
    agentId: accounts.a.email,
    contactName: name,
  });

  await page.getByRole("button", { name: `Start SMS conversation with ${name}` }).click();
  await expect.poll(async () => (await events()).length).toBe(2);
  expect((await events())[1]).toMatchObject({ channel: "sms", channelId: "+" + digits });
});

test("dark theme follows the system", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto("/sign-in");
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: "light" });
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(dark).toBe("rgb(18, 20, 22)");
  expect(light).toBe("rgb(255, 255, 255)");
});
