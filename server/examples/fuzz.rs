//! Fuzzes every parser of untrusted input with property tests at a high case
//! count: webhook bodies, Webex signatures, phone numbers, CSV imports,
//! identity tokens and post-sign-in redirect targets. Not part of the test
//! run (it takes minutes); run it with `scripts/fuzz [CASES]`.
//!
//! Each target checks that the parser never panics and that what it accepts
//! keeps the promise the product relies on. Prints the cases run and the
//! failures (with the smallest failing input) per target; exits 1 on any.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{json, Value};
use std::time::Instant;

/// Keys that webhook bodies from Connect and Webex carry, so generated
/// objects look like deliveries often enough to reach deep code paths.
const KEYS: &[&str] = &[
    "channel",
    "event",
    "tid",
    "transid",
    "oa",
    "da",
    "msisdn",
    "waid",
    "username",
    "message",
    "text",
    "attachments",
    "content",
    "url",
    "mime_type",
    "caption",
    "type",
    "status",
    "code",
    "correlationid",
    "appId",
    "ts",
    "data",
    "id",
    "personId",
    "files",
    "location",
    "parts",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "(sms|SMS|WhatsApp|whatsapp|MMS|mms|MO|\\+?[0-9]{0,16})".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner.clone()), 0..8).prop_map(
                |pairs| {
                    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }
            ),
            // JSON given as a string inside JSON, as Connect does for
            // attachments and MMS parts.
            inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

/// Strings that look like phone numbers more often than random text does.
fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[+0-9 ()./-]{0,24}",
        "\\+?[0-9]{1,3}[ -]?[0-9]{2,5}[ -]?[0-9]{3,9}",
        "00[0-9]{6,16}",
    ]
}

fn csv_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec("[a-zA-Z \"=+@,-]{0,12},[+0-9 \"]{0,16}", 0..12)
            .prop_map(|rows| rows.join("\n")),
        "[\",\\n\\r a-z0-9+=@-]{0,200}",
        // Rows that are mostly valid, so imports really write.
        prop::collection::vec("[A-Z][a-z]{1,8},\\+4477009[0-9]{5}", 1..8)
            .prop_map(|rows| rows.join("\r\n")),
    ]
}

fn redirect_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[/\\\\%a-zA-Z0-9:.@\\t\\n\\r\\x00 ?#]{0,24}",
        "/[/\\\\][a-z.]{1,12}",
        "/%(2f|5c|2F|5C|09|0a|0d|00)[a-z.]{0,12}",
    ]
}

fn token_like() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        "[A-Za-z0-9_-]{0,40}",
        json_value().prop_map(|v| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        }),
        prop::sample::select(vec![
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS256","kid":"k"}"#,
            r#"{"alg":"RS256","kid":"k"}"#,
            r#"{"alg":"EdDSA","kid":"k"}"#,
        ])
        .prop_map(|h| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h)
        }),
    ];
    prop_oneof![
        any::<String>(),
        (segment.clone(), segment.clone(), segment).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
    ]
}

struct Report {
    target: &'static str,
    cases: u32,
    seconds: f64,
    failure: Option<String>,
}

fn run<S: Strategy>(
    target: &'static str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Report
where
    S::Value: std::fmt::Debug,
{
    let started = Instant::now();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    });
    let failure = match runner.run(&strategy, |value| {
        // A panic is a failure too, with the input that caused it.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(value))) {
            Ok(result) => result,
            Err(_) => Err(TestCaseError::fail("panicked")),
        }
    }) {
        Ok(()) => None,
        Err(TestError::Fail(why, input)) => Some(format!("{why}: input {input:?}")),
        Err(TestError::Abort(why)) => Some(format!("aborted: {why}")),
    };
    let report = Report {
        target,
        cases,
        seconds: started.elapsed().as_secs_f64(),
        failure,
    };
    println!(
        "{:<22} {:>9} cases {:>7.1} s  {}",
        report.target,
        report.cases,
        report.seconds,
        report.failure.as_deref().unwrap_or("ok")
    );
    report
}

fn main() {
    let cases: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    // Panics are caught and reported per case; keep the default hook quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut reports = Vec::new();

    reports.push(run("webhook body (JSON)", cases, json_value(), |v| {
        let _ = relay::inbound::parse_inbound(&v);
        let _ = relay::inbound::parse_receipt(&v);
        Ok(())
    }));

    reports.push(run(
        "webhook body (bytes)",
        cases,
        prop::collection::vec(any::<u8>(), 0..512),
        |bytes| {
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                let _ = relay::inbound::parse_inbound(&v);
                let _ = relay::inbound::parse_receipt(&v);
            }
            Ok(())
        },
    ));

    reports.push(run(
        "webex signature",
        cases,
        (
            any::<String>(),
            prop::collection::vec(any::<u8>(), 0..256),
            any::<String>(),
        ),
        |(secret, body, claimed)| {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(&body);
            let right = hex::encode(mac.finalize().into_bytes());
            prop_assert!(platform::webex::signature_valid(&secret, &body, &right));
            prop_assert!(
                claimed == right || !platform::webex::signature_valid(&secret, &body, &claimed)
            );
            Ok(())
        },
    ));

    reports.push(run("phone number", cases, phone_like(), |input| {
        use domain::phone::{Msisdn, PhoneRegion};
        if let Ok(m) = Msisdn::parse(&input, PhoneRegion::default()) {
            prop_assert!(m.as_str().starts_with('+'), "not E.164: {}", m.as_str());
            prop_assert!(m.digits().chars().all(|c| c.is_ascii_digit()));
            let again = Msisdn::parse(m.as_str(), PhoneRegion::default());
            prop_assert_eq!(again.as_ref().ok(), Some(&m), "not stable");
        }
        Ok(())
    }));

    // Each case is a real import into a real (temporary) database.
    let dir = std::env::temp_dir().join(format!("cm-fuzz-{}", std::process::id()));
    let store = runtime.block_on(async {
        let url = format!("sqlite://{}/fuzz.db", dir.display());
        let store = store::Store::connect(&url, Default::default())
            .await
            .expect("a temporary database");
        store.migrate().await.expect("migrations");
        store
    });
    reports.push(run("CSV import", (cases / 20).max(1), csv_like(), |body| {
        let ctx = store::AuditCtx::system();
        let outcomes = runtime
            .block_on(store::csv_io::import_rows(
                &store,
                &ctx,
                None,
                "name,phone",
                &body,
                2,
            ))
            .map_err(|e| TestCaseError::fail(format!("import failed as a whole: {e}")))?;
        // The csv reader ends a record at \n, \r or \r\n.
        prop_assert!(outcomes.len() <= body.matches(['\n', '\r']).count() + 1);
        Ok(())
    }));
    runtime.block_on(store.close());
    let _ = std::fs::remove_dir_all(&dir);

    let identity = server::identity::EmbeddedIdentity::new(
        // Nothing listens there: a token that gets as far as a key fetch
        // is refused for want of keys, which is also a refusal.
        server::identity::IssuerPolicy {
            hosts: Vec::new(),
            exact: Some("http://127.0.0.1:9/idb".into()),
        },
        Some("embedded-app".into()),
        &[],
    );
    reports.push(run(
        "identity token",
        (cases / 10).max(1),
        token_like(),
        |token| {
            let verdict = runtime.block_on(identity.verify(&token));
            prop_assert!(verdict.is_err(), "an unsigned token was accepted");
            Ok(())
        },
    ));

    reports.push(run("sign-in redirect", cases, redirect_like(), |next| {
        let out = app::ssr::safe_next(&next);
        prop_assert!(out.starts_with('/'), "{out:?}");
        prop_assert!(!out.starts_with("//"), "{out:?}");
        prop_assert!(!out.contains('\\'), "{out:?}");
        prop_assert!(!out.chars().any(char::is_control), "{out:?}");
        let lower = out.to_ascii_lowercase();
        prop_assert!(
            !lower.contains("%5c") && !lower.starts_with("/%2f"),
            "{out:?}"
        );
        Ok(())
    }));

    let failed = reports.iter().filter(|r| r.failure.is_some()).count();
    let total: u64 = reports.iter().map(|r| u64::from(r.cases)).sum();
    println!("{total} cases run, {failed} targets failed");
    std::process::exit(i32::from(failed > 0));
}
