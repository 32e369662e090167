import { test } from "@playwright/test";
import { accounts, signIn } from "./helpers";
import {
  addContactAndStart,
  businessMessages,
  customerSays,
  expect,
  freshNumber,
  openSession,
  openSpace,
  phone,
  webexClient,
} from "./relay-helpers";

// What the business says to customers on its own (relay/src/dialogue.rs):
// the onboarding dialogue for unknown numbers, the routing keyword, and the
// answer once a conversation has ended.

test.describe.configure({ timeout: 90_000 });

const ASK_NAME = "Hello! To connect you with the right person, what is your name?";
const PLEASE_WAIT = "Please wait while we connect you…";
const NOT_FOUND = "Sorry, we could not find anyone with that email address";
const ENDED = "This conversation has ended. To start a new one, reply START.";

test("an unknown SMS number is asked for a name and an agent, and reaches Agent A", async ({ browser }) => {
  const number = freshNumber();
  const name = `Dana Onboarding ${number.slice(-5)}`;
  const customer = await phone(browser, "sms", number);

  await customerSays(customer, "Hi");
  await expect(businessMessages(customer, ASK_NAME)).toHaveCount(1);

  await customerSays(customer, name);
  await expect(
    businessMessages(customer, `Thanks, ${name}. What is the email address of the person you would like to talk to?`),
  ).toHaveCount(1);

  // Nobody has this address: asked again.
  await customerSays(customer, "nobody-here@example.com");
  await expect(businessMessages(customer, NOT_FOUND)).toHaveCount(1);
  await expect(businessMessages(customer, PLEASE_WAIT)).toHaveCount(1);

  await customerSays(customer, "agent-a@example.com");
  await expect(
    businessMessages(customer, "You are now connected with Agent A. Write here and they will answer in this chat."),
  ).toHaveCount(1);
  // The whole dialogue, in order.
  await expect(businessMessages(customer)).toHaveCount(6);
  await expect(businessMessages(customer)).toContainText([
    ASK_NAME,
    `Thanks, ${name}.`,
    PLEASE_WAIT,
    NOT_FOUND,
    PLEASE_WAIT,
    "You are now connected with Agent A.",
  ]);

  // Agent A's space opens with a greeting naming the customer; their next message arrives there.
  const webex = await webexClient(browser, accounts.a.email);
  const space = await openSpace(webex, name);
  await expect(space).toContainText(`Conversation with ${name} on SMS`);
  await customerSays(customer, "My boiler stopped working this morning");
  await expect(space).toContainText("My boiler stopped working this morning");
  // The dialogue itself stays between the customer and the business.
  await expect(space).not.toContainText("nobody-here@example.com");
});

test("the routing keyword connects an unknown WhatsApp number to Agent B, keyword removed", async ({ browser }) => {
  const number = freshNumber();
  const name = `Quinn Keyword ${number.slice(-5)}`;
  const customer = await phone(browser, "whatsapp", number, name);

  await customerSays(customer, "webexAgent_agent-b@example.com I need a quote");
  await expect(
    businessMessages(customer, "You are now connected with Agent B. Write here and they will answer in this chat."),
  ).toHaveCount(1);
  await expect(businessMessages(customer, ASK_NAME)).toHaveCount(0);

  // Agent B's space: the greeting names the customer (their WhatsApp profile
  // name), then what they wrote without the keyword.
  const webex = await webexClient(browser, accounts.b.email);
  const space = await openSpace(webex, name);
  await expect(space).toContainText(`Conversation with ${name} on WhatsApp`);
  await expect(space).toContainText("I need a quote");
  await expect(space).not.toContainText(/webexAgent/i);
});

test("after the agent ends the session, the customer is told it has ended", async ({ page, browser }) => {
  const number = freshNumber();
  const name = `Ended Customer ${number.slice(-5)}`;

  await signIn(page, accounts.a);
  await addContactAndStart(page, name, number, "SMS");
  const webex = await webexClient(browser, accounts.a.email);
  const space = await openSpace(webex, name);
  const customer = await phone(browser, "sms", number);
  await customerSays(customer, "Thanks, that solved it");
  await expect(space).toContainText("Thanks, that solved it");

  // The agent ends the session in the sidebar, and confirms.
  await openSession(page, name);
  await page.getByRole("link", { name: "End session" }).click();
  const confirm = page.getByRole("alertdialog", { name: "End this session?" });
  await confirm.getByRole("button", { name: "End session" }).click();
  await expect(page.getByRole("status")).toHaveText("Session ended");
  await expect(confirm).toHaveCount(0);
  await expect(page.getByText("Ended", { exact: true })).toBeVisible();

  await customerSays(customer, "One more question");
  await expect(businessMessages(customer, ENDED)).toHaveCount(1);
  await expect(space).not.toContainText("One more question");
});
