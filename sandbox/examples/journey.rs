//! The whole journey against a running product and a standalone sandbox, as
//! an agent and a customer make it: sign in, start an SMS conversation, the
//! customer writes, the agent answers. Exits non-zero at the first step that
//! does not happen in time. scripts/try-replicas runs it through the load
//! balancer in front of three replicas.
//!
//!   cargo run -p sandbox --example journey -- PRODUCT_URL SANDBOX_URL EMAIL PASSWORD NUMBER [NAME]

use std::time::{Duration, Instant};

use sandbox::driver::{wait_for, Driver};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [product, sandbox, email, password, number, rest @ ..] = args.as_slice() else {
        eprintln!("usage: journey PRODUCT_URL SANDBOX_URL EMAIL PASSWORD NUMBER [NAME]");
        std::process::exit(2);
    };
    let name = rest.first().map_or("Journey Customer", String::as_str);
    let driver = Driver::new(product, sandbox);
    let started = Instant::now();
    let step = |what: &str| println!("{:>6} ms  {what}", started.elapsed().as_millis());

    let agent = driver.sign_in(email, password).await;
    step("the agent signed in");
    agent.start_conversation(name, number, "sms").await;
    let token = driver.agent_token(email).await;
    let room = driver
        .room_with(&token, &format!("Conversation with {name}"))
        .await;
    step("the conversation started: the guest greeted the agent in Webex");

    let hello = format!("Hello from {name} ({})", uuid::Uuid::new_v4().simple());
    driver.customer_sends("sms", number, &hello).await;
    wait_for(
        "the customer's message in the agent's space",
        PATIENCE,
        || async {
            let inbox = driver.agent_inbox(&token).await;
            inbox
                .iter()
                .any(|(r, t)| *r == room && *t == hello)
                .then_some(())
        },
    )
    .await;
    step("the customer's SMS reached the agent's space");

    let answer = format!(
        "Hello {name}, how can I help? ({})",
        uuid::Uuid::new_v4().simple()
    );
    driver.agent_writes(&token, &room, &answer).await;
    wait_for(
        "the agent's answer on the customer's phone",
        PATIENCE,
        || async {
            let received = driver.phone_received("sms", number).await;
            received.iter().any(|t| t.contains(&answer)).then_some(())
        },
    )
    .await;
    step("the agent's answer reached the customer's phone");
    println!("journey done");
}

const PATIENCE: Duration = Duration::from_secs(30);
