//! Stand-in for the Embedded App SDK user identity token: a JWT signed with
//! an Ed25519 key (EdDSA) whose public half is served as a JWKS.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::state::{org_id, PersonType, Shared};
use crate::webex::error::ApiError;

/// Identity tokens are short lived, like the SDK's.
const TOKEN_SECONDS: i64 = 3600;

pub struct SigningKey {
    pub kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl SigningKey {
    pub fn generate() -> SigningKey {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .expect("the system RNG works")
            .as_ref()
            .to_vec();
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).expect("a fresh key parses");
        SigningKey {
            kid: crate::state::random_token(8),
            public: pair.public_key().as_ref().to_vec(),
            pkcs8,
        }
    }

    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.public),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let key = jsonwebtoken::EncodingKey::from_ed_der(&self.pkcs8);
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
