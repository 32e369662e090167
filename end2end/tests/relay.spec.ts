import { test, expect } from "@playwright/test";
import { accounts, signIn } from "./helpers";
import {
  addContactAndStart,
  agentSays,
  customerSays,
  freshNumber,
  phone,
  startFromContacts,
  webexClient,
} from "./relay-helpers";

// The native relay through the three surfaces a person uses: the sidebar
// (agent), the Webex App (the sandbox's agent client) and the customer's phone.

for (const channel of ["WhatsApp", "SMS"] as const) {
  test(`${channel}: start, both ways, then Agent B takes the customer over`, async ({ page, browser }) => {
    const number = freshNumber();
    const name = `${channel} Customer ${number.slice(-5)}`;
    const wire = channel === "WhatsApp" ? "whatsapp" : "sms";

    await signIn(page, accounts.a);
    await addContactAndStart(page, name, number, channel);

    // The guest's greeting opens Agent A's 1:1 space in Webex.
    const webexA = await webexClient(browser, accounts.a.email);
    await webexA.getByRole("button", { name: `${name} (guest)` }).click();
    const spaceA = webexA.getByRole("log", { name: "Conversation" });
    await expect(spaceA).toContainText(`Conversation with ${name} on ${channel}`);

    // The customer writes (for WhatsApp this opens the 24-hour window), the agent answers.
    const customer = await phone(browser, wire, number);
    await customerSays(customer, "Hello, I need help with my order");
    await expect(spaceA).toContainText("Hello, I need help with my order");
    await agentSays(webexA, "Happy to help, this is Agent A");
    await expect(customer.getByRole("log", { name: "Conversation" })).toContainText("Happy to help, this is Agent A");

    // The sidebar's session detail shows the transcript with statuses.
    await page.goto("/sessions");
    await page.getByRole("link", { name }).click();
    const transcript = page.getByRole("list", { name: "Messages" });
    await expect(transcript).toContainText("Hello, I need help with my order");
    await expect(transcript).toContainText("Happy to help, this is Agent A");

    // Agent B starts a conversation with the same customer: the next message reaches B, not A.
    const pageB = await browser.newPage();
    await signIn(pageB, accounts.b);
    await startFromContacts(pageB, name, channel);
    const webexB = await webexClient(browser, accounts.b.email);
    await webexB.getByRole("button", { name: `${name} (guest)` }).click();
    const spaceB = webexB.getByRole("log", { name: "Conversation" });
    await expect(spaceB).toContainText(`Conversation with ${name}`);
    await customerSays(customer, "Is anyone there?");
    await expect(spaceB).toContainText("Is anyone there?");
    await expect(spaceA).not.toContainText("Is anyone there?");
  });
}
