//! Stand-in for the Embedded App SDK user identity token: a JWT signed
//! RS256 (as Webex documents) with an RSA key generated at start-up, whose
//! public half is served as a JWKS.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::OnceLock;

use crate::state::{org_id, PersonType, Shared};
use crate::webex::error::ApiError;

/// Identity tokens are short lived, like the SDK's.
const TOKEN_SECONDS: i64 = 3600;

/// An RSA signing key and its JWKS entry. Clone shares nothing secret with
/// the outside: only `jwk()` is published.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    /// PKCS#1 DER of the private key, as `jsonwebtoken` wants it.
    der: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl SigningKey {
    /// A 2048-bit RSA key. Generating one takes a moment, so a process makes
    /// one and every sandbox in it shares it (the sandbox is a simulator:
    /// what matters is that its key is not a constant in the source).
    pub fn generate() -> SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| {
            let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                .expect("RSA key generation with the OS random source succeeds");
            SigningKey {
                kid: crate::state::random_token(8),
                der: private
                    .to_pkcs1_der()
                    .expect("a fresh key encodes")
                    .as_bytes()
                    .to_vec(),
                n: private.n().to_bytes_be(),
                e: private.e().to_bytes_be(),
            }
        })
        .clone()
    }

    pub fn jwk(&self) -> Value {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        json!({
            "kty": "RSA",
            "n": b64.encode(&self.n),
            "e": b64.encode(&self.e),
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        })
    }

    /// Signs claims RS256 with this key's `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        let key = jsonwebtoken::EncodingKey::from_rsa_der(&self.der);
        jsonwebtoken::encode(&header, claims, &key).expect("signing with a valid key succeeds")
    }
}

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/token", get(token))
        .route("/user", get(user))
        .route("/jwks.json", get(jwks))
        .route("/sdk.js", get(sdk))
}

/// `GET /webex/embedded/sdk.js`: a stand-in for the Embedded App SDK script.
async fn sdk() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        include_str!("../assets/embedded-sdk.js"),
    )
}

#[derive(Deserialize)]
pub struct EmailQuery {
    email: String,
}

/// The signed identity token of an agent, as `app.application.states.user.token`.
fn identity(sandbox: &Shared, email: &str) -> Result<(Value, String), ApiError> {
    let world = sandbox.world();
    let person = world
        .person_by_email(email)
        .filter(|p| p.kind == PersonType::Person)
        .ok_or_else(|| ApiError::not_found("No such agent."))?;
    let now = Utc::now().timestamp();
    let claims = json!({
        "iss": sandbox.config.embedded_app_issuer,
        "aud": sandbox.config.embedded_app_audience,
        "sub": person.id,
        "email": person.email,
        "name": person.display_name,
        "org_id": org_id(),
        "iat": now,
        "exp": now + TOKEN_SECONDS,
    });
    let token = sandbox.embedded_key.sign(&claims);
    let user = json!({
        "id": person.id,
        "email": person.email,
        "displayName": person.display_name,
        "orgId": org_id(),
        "token": token,
    });
    Ok((user, token))
}

/// `GET /webex/embedded/token?email=`: the JWT alone, as text.
async fn token(
    State(sandbox): State<Shared>,
    Query(q): Query<EmailQuery>,
) -> Result<String, ApiError> {
    identity(&sandbox, &q.email).map(|(_, token)| token)
}

/// `GET /webex/embedded/user?email=`: the SDK's user object, token included.
async fn user(
    State(sandbox): State<Shared>,
    Query(q): Query<EmailQuery>,
) -> Result<Json<Value>, ApiError> {
    identity(&sandbox, &q.email).map(|(user, _)| Json(user))
}

async fn jwks(State(sandbox): State<Shared>) -> Json<Value> {
    Json(json!({ "keys": [sandbox.embedded_key.jwk()] }))
}
