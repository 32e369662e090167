import { test, expect } from "@playwright/test";

// The sandbox pages, driven through roles and labels. They share the sandbox
// with whatever else runs, so they use fresh numbers and guests and never reset.

const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGMAAQAABQABDQottAAAAABJRU5ErkJggg==",
  "base64",
);

function freshNumber(): string {
  return "+4477009" + String(Date.now()).slice(-5);
}

test("the customer phone sends, and shows business messages with delivery ticks", async ({ page, request }) => {
  await page.setViewportSize({ width: 320, height: 640 });
  const number = freshNumber();
  await page.goto("/sandbox/phone");
  await page.getByLabel("Channel").selectOption("whatsapp");
  await page.getByLabel("Phone number").fill(number);
  await page.getByLabel("Message", { exact: true }).fill("Hello from the phone");
  await page.getByRole("button", { name: "Send" }).click();
  const thread = page.getByRole("log", { name: "Conversation" });
  await expect(thread).toContainText("Hello from the phone");

  // The business answers within the 24 h window; the open page reads it.
  const reply = await request.post("/sandbox/control/connect/messaging", {
    data: {
      deliverychannel: "whatsapp",
      appid: "a_1",
      destination: [{ waid: [number.slice(1)] }],
      channels: { "OTT-Messaging": { wa: { type: "text", text: { body: "Hi, the business here" } } } },
    },
  });
  expect((await reply.json()).response[0].code).toBe("1001");
  await expect(thread).toContainText("Hi, the business here");
  // (On the native server the relay also answers this unknown number: look at this message only.)
  await expect(thread.getByRole("listitem").filter({ hasText: "Hi, the business here" }).getByText("✓✓ Read")).toBeVisible();

  await page.getByLabel("Attach a file").setInputFiles({ name: "photo.png", mimeType: "image/png", buffer: PNG });
  await page.getByRole("button", { name: "Send" }).click();
  await expect(thread.getByRole("img", { name: "photo.png" })).toBeVisible();

  // SMS has no read receipts: the tick stops at delivered.
  await page.getByLabel("Channel").selectOption("sms");
  await request.post("/sandbox/control/connect/messaging", {
    data: { deliverychannel: "sms", destination: [{ msisdn: [number] }], channels: { sms: { text: "SMS from the business" } } },
  });
  await expect(thread).toContainText("SMS from the business");
  await expect(thread.getByRole("listitem").filter({ hasText: "SMS from the business" }).getByText("✓✓ Delivered")).toBeVisible();

  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(320);
});

test("the agent client lists guest spaces and sends text and a file", async ({ page, request }) => {
  await page.setViewportSize({ width: 320, height: 700 });
  const name = "Guest " + Date.now();
  const guest = await (await request.post("/sandbox/control/guest-token", { data: { sub: name, name } })).json();
  const first = await request.post("/sandbox/webex/v1/messages", {
    headers: { authorization: `Bearer ${guest.token}` },
    data: { toPersonEmail: "agent-a@example.com", text: "Hello agent" },
  });
  expect(first.ok()).toBeTruthy();
  const roomId = (await first.json()).roomId;

  await page.goto("/sandbox/webex-client?agent=agent-a@example.com");
  await expect(page.getByLabel("Agent")).toHaveValue("agent-a@example.com");
  await page.getByRole("button", { name: `${name} (guest)` }).click();
  const messages = page.getByRole("log", { name: "Conversation" });
  await expect(messages).toContainText("Hello agent");

  await page.getByLabel("Message", { exact: true }).fill("Hello guest");
  await page.getByLabel("Attach a file").setInputFiles({ name: "note.png", mimeType: "image/png", buffer: PNG });
  await page.getByRole("button", { name: "Send" }).click();
  await expect(messages).toContainText("Hello guest");
  await expect(messages.getByRole("link", { name: "note.png" })).toBeVisible();

  // The guest sees the agent's message through the Webex API, file included.
  const listed = await request.get(`/sandbox/webex/v1/messages?roomId=${roomId}&max=1`, {
    headers: { authorization: `Bearer ${guest.token}` },
  });
  const newest = (await listed.json()).items[0];
  expect(newest.text).toBe("Hello guest");
  expect(newest.personEmail).toBe("agent-a@example.com");
  expect(newest.files).toHaveLength(1);
});
