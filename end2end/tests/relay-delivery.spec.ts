import { test } from "@playwright/test";
import { accounts, signIn } from "./helpers";
import {
  addContactAndStart,
  agentSays,
  businessMessages,
  customerSays,
  expect,
  expectTranscriptLine,
  freshNumber,
  openSession,
  openSpace,
  phone,
  spaceMessages,
  thread,
  webexClient,
} from "./relay-helpers";

// What the agent learns when a message does not reach the customer: Connect's
// failure receipts, and WhatsApp's 24-hour rule with its template.

test.describe.configure({ timeout: 90_000 });

test("SMS: a message Connect cannot deliver is reported to the agent and in the transcript", async ({ page, browser }) => {
  const number = freshNumber();
  const name = `Long SMS Customer ${number.slice(-5)}`;

  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "SMS");
  const webex = await webexClient(browser, accounts.a.email);
  const space = await openSpace(webex, name);
  const customer = await phone(browser, "sms", number);
  await customerSays(customer, "Can you send me the full instructions?");
  await expect(space).toContainText("Can you send me the full instructions?");

  // Over 1024 characters: Connect accepts the send, then its receipt says 7107.
  const opening = "Here are the full instructions.";
  const long = `${opening} ${"Step: turn the valve a quarter turn and wait. ".repeat(25)}`;
  expect(long.length).toBeGreaterThan(1024);
  await agentSays(webex, long);

  await expect(spaceMessages(space, "Not delivered to the customer:")).toHaveText(
    /Not delivered to the customer: .+ \(code 7107\)/,
  );
  await openSession(page, name);
  await expectTranscriptLine(page, opening, /failed: .+7107/);
  await expect(thread(customer)).not.toContainText(opening);
});

// Moves the sandbox clock 25 hours forward. The clock is global and only goes
// forward (a reset would also forget every guest, space and webhook of the
// other tests), so this test comes last in its file, and every other test
// lets its WhatsApp customer write before the business does, which reopens
// the window on the moved clock too. Our server still counts the window on
// its own clock, so it sends the text and the template follows Connect's
// refusal (receipt 7710): the path where the two clocks disagree.
test("WhatsApp: after 24 hours of silence the customer gets the template, not the agent's text", async ({ page, browser, request }) => {
  const number = freshNumber();
  const name = `Silent Customer ${number.slice(-5)}`;
  const template = "sandbox_reengagement"; // CM_WHATSAPP_TEMPLATE_ID of the test server (scripts/test)

  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "WhatsApp");
  const webex = await webexClient(browser, accounts.a.email);
  const space = await openSpace(webex, name);
  const customer = await phone(browser, "whatsapp", number, name);
  await customerSays(customer, "I will think about your offer");
  await expect(space).toContainText("I will think about your offer");

  // A day and an hour later (by WhatsApp's clock) the agent writes.
  const moved = await request.post("/sandbox/control/clock", { data: { advanceSeconds: 25 * 60 * 60 } });
  expect(moved.ok()).toBeTruthy();
  await agentSays(webex, "Have you decided about the offer?");

  // WhatsApp refuses free-form text (receipt 7710): the approved template goes instead.
  // Its variables (scripts/test): customer, agent and shop, shown by name order.
  await expect(businessMessages(customer, `Template ${template}: Agent A, ${name}, Acme`)).toHaveCount(1);
  await expect(thread(customer)).not.toContainText("Have you decided about the offer?");
  await expect(spaceMessages(space, `template "${template}" was sent instead`)).toHaveCount(1);
  await expect(spaceMessages(space, `template "${template}" was sent instead`)).toContainText("your message was not delivered");

  await openSession(page, name);
  await expectTranscriptLine(page, "Have you decided about the offer?", /failed: .+\(7710\)/);

  // Once the customer answers the template, the agent's words reach them again.
  await customerSays(customer, "Yes, let's go ahead");
  await expect(space).toContainText("Yes, let's go ahead");
  await agentSays(webex, "Great, I will send the contract");
  await expect(businessMessages(customer, "Great, I will send the contract")).toHaveCount(1);
});
