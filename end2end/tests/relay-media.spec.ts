import { test } from "@playwright/test";
import { accounts, signIn } from "./helpers";
import {
  addContactAndStart,
  agentSays,
  agentSends,
  businessMessages,
  customerSays,
  customerSends,
  expect,
  expectImageLoaded,
  freshNumber,
  jpeg,
  openSpace,
  pdf,
  phone,
  png,
  spaceMessages,
  webexClient,
} from "./relay-helpers";

// Files both ways through the native relay: WhatsApp images and documents,
// and MMS on an SMS conversation.

test.describe.configure({ timeout: 90_000 });

test("WhatsApp: an image from the customer, an image and a PDF from the agent", async ({ page, browser, request }) => {
  const number = freshNumber();
  const name = `Photo Customer ${number.slice(-5)}`;

  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "WhatsApp");
  const webex = await webexClient(browser, accounts.a.email);
  const space = await openSpace(webex, name);
  await expect(space).toContainText(`Conversation with ${name} on WhatsApp`);

  // The customer writes first (this opens WhatsApp's 24-hour window), then sends a photo.
  const customer = await phone(browser, "whatsapp", number, name);
  await customerSays(customer, "Hello, I have a photo of the broken part");
  await expect(space).toContainText("Hello, I have a photo of the broken part");
  await customerSends(customer, png("broken-part.png"));
  await expectImageLoaded(spaceMessages(space).getByRole("img", { name: "broken-part.png" }));

  // The agent answers with a JPEG: the phone shows it as an image, with the text as caption.
  await agentSends(webex, jpeg("replacement.jpg"), "This is the replacement part");
  const picture = businessMessages(customer, "This is the replacement part");
  await expectImageLoaded(picture.getByRole("img", { name: "replacement.jpg" }));

  // A PDF is not an image: WhatsApp carries it as a document, a link named after the file.
  await agentSends(webex, pdf("warranty-terms.pdf"), "Our warranty terms");
  const document = businessMessages(customer, "Our warranty terms");
  const link = document.getByRole("link", { name: "warranty-terms.pdf" });
  await expect(link).toBeVisible();
  await expect(document.getByRole("img")).toHaveCount(0);
  const download = await request.get((await link.getAttribute("href"))!);
  expect(download.status()).toBe(200);
  expect(download.headers()["content-type"]).toContain("application/pdf");
  expect((await download.body()).subarray(0, 5).toString()).toBe("%PDF-");
});

test("MMS: a photo with text from the customer, a file from the agent", async ({ page, browser }) => {
  const number = freshNumber();
  const name = `MMS Customer ${number.slice(-5)}`;

  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "SMS");
  const webex = await webexClient(browser, accounts.a.email);
  const space = await openSpace(webex, name);
  await expect(space).toContainText(`Conversation with ${name} on SMS`);

  // An MMS with text and a picture: one Webex message carrying the text and the file.
  const customer = await phone(browser, "mms", number);
  await customerSends(customer, png("dent.png"), "Here is the dent in the door");
  const posted = spaceMessages(space, "Here is the dent in the door");
  await expect(posted).toHaveCount(1);
  await expectImageLoaded(posted.getByRole("img", { name: "dent.png" }));
  await expect(posted.getByRole("link")).toHaveCount(1);

  // The agent answers with a picture: the phone's SMS/MMS thread shows an MMS with it.
  await agentSends(webex, png("repair-quote.png"), "Your repair quote is attached");
  const mms = businessMessages(customer, "Your repair quote is attached");
  await expectImageLoaded(mms.getByRole("img", { name: "repair-quote.png" }));

  // Plain text still goes as SMS on the same thread.
  await agentSays(webex, "Let me know if you have questions");
  await expect(businessMessages(customer, "Let me know if you have questions")).toHaveCount(1);
});
