//! Who may deliver a webhook: the one place where every delivery is
//! authenticated, on the raw bytes and before anything is parsed or stored.
//!
//! | Route | [`Source`] | What it must carry |
//! |---|---|---|
//! | `POST /webhooks/webex` | [`Webex`] | `x-spark-signature`: hex HMAC-SHA1 of the body with the guests' webhook secret; required |
//! | `POST /webhooks/connect/inbound` | [`ConnectInbound`] | `?token=`: the inbound token, required; with a hub secret, `x-hub-signature` (HMAC-SHA256/512 of the body), required |
//! | `POST /webhooks/connect/receipts` | [`ConnectReceipt`] | `?token=`, required; with a hub secret, `x-hub-signature` checked when present |
//! | `POST /webhooks/bot` | [`Bot`] | `Authorization: Bearer` the bot's callback token (`CM_BOT_CALLBACK_TOKEN`), required; no bot configured: refused |
//!
//! Receipts come to the `notifyurl` of each send, and Connect's pages do not
//! say those are signed: so a receipt's signature is checked only when it is
//! there (a wrong one is refused). Secrets and tokens are compared in
//! constant time.
//!
//! Only [`Relay::verify_webhook`] makes a [`VerifiedBody`], and the relay's
//! `accept_*` take nothing else: an unverified body, or one verified for
//! another route, cannot reach them. The server reads the request (header,
//! query) as the source says and answers a refusal (`server::webhook_auth`).

use bytes::Bytes;
use std::marker::PhantomData;
use subtle::ConstantTimeEq;

use super::Relay;
use platform::connect::hub_signature_valid;
use platform::webex::signature_valid;

/// Who sends deliveries to a webhook route, and so how they are checked.
/// Implemented by [`Webex`], [`ConnectInbound`] and [`ConnectReceipt`] only.
pub trait Source: sealed::Sealed + Send + Sync + 'static {
    /// The header that carries the body's signature.
    const SIGNATURE_HEADER: &'static str;
    /// Whether deliveries carry our token in the URL (`?token=`).
    const TOKEN_IN_URL: bool;
    /// Which rule applies.
    const RULE: Rule;
}

/// The guests' Webex message webhooks (`/webhooks/webex`).
pub struct Webex;
/// Customers' messages from Connect (`/webhooks/connect/inbound`).
pub struct ConnectInbound;
/// Delivery receipts from Connect (`/webhooks/connect/receipts`).
pub struct ConnectReceipt;
/// The configured bot's answers (`/webhooks/bot`).
pub struct Bot;

/// The rule of a [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The Webex signature, always.
    WebexSignature,
    /// The token; and the hub signature, when a hub secret is set, required
    /// (`hub_required`) or checked only when present.
    ConnectToken { hub_required: bool },
    /// The bot's callback token as a bearer token.
    BotToken,
}

impl Source for Webex {
    const SIGNATURE_HEADER: &'static str = "x-spark-signature";
    const TOKEN_IN_URL: bool = false;
    const RULE: Rule = Rule::WebexSignature;
}

impl Source for ConnectInbound {
    const SIGNATURE_HEADER: &'static str = "x-hub-signature";
    const TOKEN_IN_URL: bool = true;
    const RULE: Rule = Rule::ConnectToken { hub_required: true };
}

impl Source for ConnectReceipt {
    const SIGNATURE_HEADER: &'static str = "x-hub-signature";
    const TOKEN_IN_URL: bool = true;
    const RULE: Rule = Rule::ConnectToken {
        hub_required: false,
    };
}

impl Source for Bot {
    const SIGNATURE_HEADER: &'static str = "authorization";
    const TOKEN_IN_URL: bool = false;
    const RULE: Rule = Rule::BotToken;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Bot {}
    impl Sealed for super::Webex {}
    impl Sealed for super::ConnectInbound {}
    impl Sealed for super::ConnectReceipt {}
}

/// What a delivery presents, as read from its request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The value of the source's [`Source::SIGNATURE_HEADER`], if any.
    pub signature: Option<&'a str>,
    /// The URL's `token` query, if any (read only when
    /// [`Source::TOKEN_IN_URL`]).
    pub token: Option<&'a str>,
}

/// A delivery's raw body, verified as coming from `S`.
pub struct VerifiedBody<S: Source> {
    body: Bytes,
    source: PhantomData<S>,
}

impl<S: Source> VerifiedBody<S> {
    /// The raw bytes, exactly as they were signed.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }
}

impl<S: Source> std::fmt::Debug for VerifiedBody<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedBody")
            .field("source", &std::any::type_name::<S>())
            .field("len", &self.body.len())
            .finish()
    }
}

/// A delivery without the credentials its route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature missing or wrong")]
pub struct Refused;

impl Relay {
    /// Checks a delivery to `S`'s route against the relay's secrets.
    pub fn verify_webhook<S: Source>(
        &self,
        presented: Presented<'_>,
        body: Bytes,
    ) -> Result<VerifiedBody<S>, Refused> {
        let settings = &self.inner.settings;
        let valid = match S::RULE {
            Rule::WebexSignature => presented
                .signature
                .is_some_and(|s| signature_valid(&settings.webhook_secret, &body, s)),
            Rule::ConnectToken { hub_required } => {
                token_valid(&settings.connect_inbound_token, presented.token)
                    && hub_signature_ok(
                        settings.connect_webhook_secret.as_deref(),
                        &body,
                        presented.signature,
                        hub_required,
                    )
            }
            Rule::BotToken => match (self.bot_callback_token(), presented.signature) {
                (Some(expected), Some(header)) => header
                    .strip_prefix("Bearer ")
                    .is_some_and(|t| token_valid(expected, Some(t.trim()))),
                _ => false,
            },
        };
        if !valid {
            return Err(Refused);
        }
        Ok(VerifiedBody {
            body,
            source: PhantomData,
        })
    }
}

/// The `token` query Connect deliveries carry, compared in constant time.
fn token_valid(expected: &str, token: Option<&str>) -> bool {
    token.is_some_and(|t| bool::from(expected.as_bytes().ct_eq(t.as_bytes())))
}

/// With a hub secret configured, Connect's `x-hub-signature` must match the
/// raw body (`required`: also when it is missing). Without one there is
/// nothing to check.
fn hub_signature_ok(
    secret: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
    required: bool,
) -> bool {
    let Some(secret) = secret else {
        return true;
    };
    match signature {
        Some(s) => hub_signature_valid(secret, body, s),
        None => !required,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_must_be_there_and_equal() {
        assert!(token_valid("t0ken", Some("t0ken")));
        assert!(!token_valid("t0ken", None));
        assert!(!token_valid("t0ken", Some("")));
        assert!(!token_valid("t0ken", Some("t0ke")));
        assert!(!token_valid("t0ken", Some("t0ken!")));
        assert!(!token_valid("t0ken", Some("T0KEN")));
    }

    #[test]
    fn a_hub_signature_is_checked_when_a_secret_is_set() {
        let body = br#"{"x":1}"#;
        // Independently computed: printf '{"x":1}' | openssl dgst -sha256 -hmac hub
        let right = "a15c70174523a2d62a18ee2de200ec1f8380bf78f9d792f5dde72fee38ea98aa";
        // No secret: nothing is checked, whatever the header says.
        for required in [true, false] {
            assert!(hub_signature_ok(None, body, None, required));
            assert!(hub_signature_ok(None, body, Some("junk"), required));
        }
        // A secret: a right signature passes and a wrong one fails, on both
        // routes; a missing one fails only where it is required.
        for required in [true, false] {
            assert!(hub_signature_ok(Some("hub"), body, Some(right), required));
            assert!(!hub_signature_ok(Some("hub"), body, Some("junk"), required));
            assert!(!hub_signature_ok(
                Some("hub"),
                b"{\"x\":2}",
                Some(right),
                required
            ));
        }
        assert!(!hub_signature_ok(Some("hub"), body, None, true));
        assert!(hub_signature_ok(Some("hub"), body, None, false));
    }
}
