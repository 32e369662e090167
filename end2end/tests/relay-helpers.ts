import { Browser, Locator, Page, expect as baseExpect } from "@playwright/test";
import { hydrated } from "./helpers";

/**
 * A message crosses the sandbox's delivery queue, the relay's outbox and the
 * pages' one-second polling, several times over in a journey: each wait gets
 * 20 s (the suite's default is 10 s), for a machine that is busy building.
 */
export const expect = baseExpect.configure({ timeout: 20_000 });

// The three surfaces of the native relay, as a person uses them: the sidebar
// (agent), the Webex App (the sandbox's agent client) and the customer's
// phone (the sandbox's phone page). All tests share one server and one
// sandbox, so each uses its own customer number and contact name.

export type Channel = "WhatsApp" | "SMS";

let numbers = 0;

/** A UK mobile number no other test uses (the last five digits vary). */
export function freshNumber(): string {
  const five = String((Date.now() + 7919 * numbers++) % 100_000).padStart(5, "0");
  return "+4477009" + five;
}

// ---------------------------------------------------------------- sidebar

export async function addContactAndStart(page: Page, name: string, phone: string, channel: Channel) {
  await page.getByRole("link", { name: "New contact" }).click();
  await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Phone number").fill(phone);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText(`Saved ${name}`);
  await startFromContacts(page, name, channel);
}

export async function startFromContacts(page: Page, name: string, channel: Channel) {
  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await hydrated(page);
  await page.getByRole("button", { name: `Start ${channel} conversation with ${name}` }).click();
  const started = page.getByRole("status").filter({ hasText: "conversation with" });
  const chooser = templateChooser(page, name);
  await expect(started.or(chooser)).toBeVisible();
  if (await chooser.isVisible()) {
    // The customer's WhatsApp window is closed and the test server has
    // templates (scripts/test): these journeys start without one, so that
    // the customer's phone shows only what each test sends.
    await chooser.getByRole("radio", { name: /^None now/ }).check();
    await chooser.getByRole("button", { name: "Start", exact: true }).click();
  }
  await expect(started).toContainText(name);
}

/** The WhatsApp template chooser the contacts page opens for a customer whose window is closed. */
export function templateChooser(page: Page, name: string): Locator {
  return page.getByRole("form", { name: `Start WhatsApp with ${name}` });
}

/** Opens the customer's session from the Sessions list; returns the transcript. */
export async function openSession(page: Page, name: string): Promise<Locator> {
  await page.goto("/sessions");
  await page.getByRole("link", { name, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);
  await hydrated(page);
  return page.getByRole("list", { name: "Messages" });
}

/**
 * Waits until the session's transcript shows the line with `text` in the
 * given state. The page updates itself (live.spec.ts shows it); reloading
 * here keeps these tests about the relay, not about the live updates.
 */
export async function expectTranscriptLine(page: Page, text: string, state: string | RegExp) {
  const line = page.getByRole("list", { name: "Messages" }).getByRole("listitem").filter({ hasText: text });
  await expect(async () => {
    await page.reload();
    await expect(line).toHaveCount(1, { timeout: 1_000 });
    await expect(line).toContainText(state, { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  return line;
}

// ------------------------------------------------------- Webex (the agent)

export async function webexClient(browser: Browser, email: string) {
  const page = await browser.newPage();
  await page.goto(`/sandbox/webex-client?agent=${email}`);
  return page;
}

/** Opens the agent's 1:1 space with the customer's guest; returns its messages. */
export async function openSpace(webex: Page, guestName: string): Promise<Locator> {
  await webex.getByRole("button", { name: `${guestName} (guest)` }).click();
  await expect(webex.getByRole("heading", { name: `Messages with ${guestName}` })).toBeVisible();
  return webex.getByRole("log", { name: "Conversation" });
}

/** One message of a space (the agent client shows one list item per Webex message). */
export function spaceMessages(space: Locator, hasText?: string): Locator {
  const items = space.getByRole("listitem");
  return hasText === undefined ? items : items.filter({ hasText });
}

export async function agentSays(page: Page, text: string) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await sent(page);
}

export async function agentSends(page: Page, file: FileToSend, text = "") {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByLabel("Attach a file").setInputFiles(file);
  await page.getByRole("button", { name: "Send" }).click();
  await sent(page);
}

// ------------------------------------------------------- the customer phone

export async function phone(
  browser: Browser,
  channel: "whatsapp" | "sms" | "mms",
  number: string,
  profileName?: string,
) {
  const page = await browser.newPage();
  await page.goto("/sandbox/phone");
  await page.getByLabel("Channel").selectOption(channel);
  await page.getByLabel("Phone number").fill(number);
  if (profileName !== undefined) await page.getByLabel("Your name (WhatsApp profile)").fill(profileName);
  return page;
}

export function thread(phonePage: Page): Locator {
  return phonePage.getByRole("log", { name: "Conversation" });
}

/** The business's messages in the phone's thread. */
export function businessMessages(phonePage: Page, hasText?: string): Locator {
  const items = thread(phonePage).getByRole("listitem", { name: "Business message" });
  return hasText === undefined ? items : items.filter({ hasText });
}

export async function customerSays(page: Page, text: string) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await expect(thread(page)).toContainText(text);
}

export async function customerSends(page: Page, file: FileToSend, text = "") {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByLabel("Attach a file").setInputFiles(file);
  await page.getByRole("button", { name: "Send" }).click();
  await sent(page);
  const own = thread(page).getByRole("listitem", { name: "You message" }).last();
  if (file.mimeType.startsWith("image/")) {
    await expect(own.getByRole("img", { name: file.name })).toBeVisible();
  } else {
    await expect(own.getByRole("link", { name: file.name })).toBeVisible();
  }
}

/** Both pages clear their form once the send was accepted and show an error otherwise. */
async function sent(page: Page) {
  await expect(page.getByLabel("Message", { exact: true })).toHaveValue("");
  await expect(page.getByLabel("Attach a file")).toHaveValue("");
  await expect(page.getByRole("status")).toHaveText("");
}

// ------------------------------------------------------------------ files

export type FileToSend = { name: string; mimeType: string; buffer: Buffer };

const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGMAAQAABQABDQottAAAAABJRU5ErkJggg==",
  "base64",
);

// A 4x4 blue JPEG (made by Chromium's canvas).
const JPEG = Buffer.from(
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/" +
    "2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAAEAAQDASIAAhEBAxEB/8QA" +
    "FQABAQAAAAAAAAAAAAAAAAAAAAb/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAABgf/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oA" +
    "DAMBAAIRAxEAPwCcAVUBf//Z",
  "base64",
);

const PDF = Buffer.from(
  "%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [3 0 R] /Count 1>> endobj\n" +
    "3 0 obj <</Type /Page /Parent 2 0 R /MediaBox [0 0 200 200]>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n",
);

export const png = (name: string): FileToSend => ({ name, mimeType: "image/png", buffer: PNG });
export const jpeg = (name: string): FileToSend => ({ name, mimeType: "image/jpeg", buffer: JPEG });
export const pdf = (name: string): FileToSend => ({ name, mimeType: "application/pdf", buffer: PDF });

/** The image is there and its file could be loaded (not just its alt text). */
export async function expectImageLoaded(img: Locator) {
  await expect(img).toBeVisible();
  await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0)).toBe(true);
}
