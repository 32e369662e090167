import { test } from "@playwright/test";
import { accounts, hydrated, signIn } from "./helpers";
import { customerSays, expect, freshNumber, openSession, phone, startFromContacts } from "./relay-helpers";

// A contact's language, as an agent sets it and a customer meets it: the
// relay's automatic replies to them come in that language.

test("a contact set to Spanish gets the automatic replies in Spanish", async ({ page, browser }) => {
  const number = freshNumber();
  const name = `Lengua Cliente ${number.slice(-5)}`;
  await signIn(page, accounts.a);
  await page.getByRole("link", { name: "New contact" }).click();
  await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Phone number").fill(number);
  await page.getByLabel("Language of our automatic replies").selectOption("es");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText(`Saved ${name}`);
  await startFromContacts(page, name, "SMS");

  // The contact page shows the choice.
  await page.goto(`/contacts?q=${encodeURIComponent(name)}`);
  await page.getByRole("link", { name, exact: true }).click();
  await expect(page.getByLabel("Language of our automatic replies")).toHaveValue("es");

  // The agent ends the session; the customer who writes is told, in Spanish.
  await openSession(page, name);
  await page.getByRole("link", { name: "End session" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "End session" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Session ended" })).toBeVisible();
  const customer = await phone(browser, "sms", number);
  await customerSays(customer, "¿Hola?");
  await expect(customer.getByRole("log", { name: "Conversation" })).toContainText(
    "Esta conversación ha terminado. Para empezar una nueva, responda START.",
  );
});
