//! Stand-in for the Embedded App SDK user identity token, as the Embedded
//! Apps Developer Guide documents it ("Verifying the JWT", "JWT field
//! reference"): a JWT signed RS256 with an RSA key generated at start-up,
//! header `{"alg":"RS256"}` (no key id), whose public key is served at
//! `{iss}/oauth2/v2/keys/verification` as
//! `{"key_valid_time": 21600, "new_verification_key": "<base64 DER>"}`.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
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
    /// DER SubjectPublicKeyInfo of the public key.
    spki: Vec<u8>,
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
                spki: private
                    .to_public_key()
                    .to_public_key_der()
                    .expect("a fresh public key encodes")
                    .as_bytes()
                    .to_vec(),
                n: private.n().to_bytes_be(),
                e: private.e().to_bytes_be(),
            }
        })
        .clone()
    }

    /// The body of `{iss}/oauth2/v2/keys/verification`, as Webex documents it.
    pub fn verification_key(&self) -> Value {
        json!({
            "key_valid_time": 21600,
            "new_verification_key": base64::engine::general_purpose::STANDARD.encode(&self.spki),
        })
    }

    /// The same public key as a JWK (for tests of JWKS-shaped key responses).
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

    /// Signs claims RS256 with the header Webex's tokens have: `{"alg":"RS256"}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "RS256" });
        self.sign_with_header(&header, claims)
    }

    /// Signs claims RS256 with this key's `kid` in the header (as a JWKS names it).
    pub fn sign_with_kid(&self, claims: &Value) -> String {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        self.sign_with_header(&header, claims)
    }

    fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let key = jsonwebtoken::EncodingKey::from_rsa_der(&self.der);
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::RS256)
                .expect("signing with a valid key succeeds");
        format!("{input}.{signature}")
    }
}

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/token", get(token))
        .route("/user", get(user))
        .route("/oauth2/v2/keys/verification", get(verification_key))
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

/// The uuid inside a Webex id (base64 of `ciscospark://us/{KIND}/{uuid}`),
/// which is what the identity token and the SDK's user object carry.
fn uuid_of(webex_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(webex_id)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|d| d.rsplit_once('/').map(|(_, uuid)| uuid.to_string()))
        .unwrap_or_else(|| webex_id.to_string())
}

/// The signed identity token of an agent, and the SDK 2.x user object
/// (`app.application.states.user`: id, orgId, email, displayName, token).
/// The claims are those of the Developer Guide's "JWT field reference".
fn identity(sandbox: &Shared, email: &str) -> Result<(Value, String), ApiError> {
    let world = sandbox.world();
    let person = world
        .person_by_email(email)
        .filter(|p| p.kind == PersonType::Person)
        .ok_or_else(|| ApiError::not_found("No such agent."))?;
    let (user_uuid, org_uuid) = (uuid_of(&person.id), uuid_of(&org_id()));
    let (given, family) = person
        .display_name
        .split_once(' ')
        .unwrap_or((person.display_name.as_str(), ""));
    let now = Utc::now().timestamp();
    let claims = json!({
        "iss": sandbox.config.embedded_app_issuer,
        "aud": sandbox.config.embedded_app_audience,
        "email": person.email,
        "email_verified": true,
        "name": person.display_name,
        "given_name": given,
        "family_name": family,
        "com.cisco.user.uuid": user_uuid,
        "com.cisco.user.orgid": org_uuid,
        "com.cisco.user.level": ["basic"],
        "iat": now,
        "exp": now + TOKEN_SECONDS,
    });
    let token = sandbox.embedded_key.sign(&claims);
    let user = json!({
        "id": user_uuid,
        "orgId": org_uuid,
        "email": person.email,
        "displayName": person.display_name,
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

/// `GET /webex/embedded/oauth2/v2/keys/verification`: the issuer's
/// verification key, at the path and in the shape the Developer Guide gives.
async fn verification_key(State(sandbox): State<Shared>) -> Json<Value> {
    Json(sandbox.embedded_key.verification_key())
}
