//! Verifies the Embedded App SDK user identity token (a Webex-signed JWT):
//! signature against the configured JWKS, issuer, audience and expiry.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde::Deserialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Who the token says the user is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub email: String,
    pub person_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("sign-in from inside Webex is not configured on this server")]
    NotConfigured,
    #[error("the Webex identity token is not valid: {0}")]
    Invalid(String),
    #[error("the Webex signing keys could not be fetched: {0}")]
    Keys(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    email: Option<String>,
}

/// The JWKS is cached for this long; an unknown key id refreshes it at once.
const JWKS_TTL: Duration = Duration::from_secs(600);

pub struct EmbeddedIdentity {
    jwks_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    client: reqwest::Client,
    cache: Mutex<Option<(Instant, JwkSet)>>,
}

impl EmbeddedIdentity {
    pub fn new(jwks_url: Option<String>, issuer: Option<String>, audience: Option<String>) -> Self {
        EmbeddedIdentity {
            jwks_url,
            issuer,
            audience,
            client: reqwest::Client::new(),
            cache: Mutex::new(None),
        }
    }

    async fn keys(&self, refresh: bool) -> Result<JwkSet, IdentityError> {
        if !refresh {
            if let Some((at, set)) = self.cache.lock().expect("jwks cache").as_ref() {
                if at.elapsed() < JWKS_TTL {
                    return Ok(set.clone());
                }
            }
        }
        let url = self
            .jwks_url
            .as_deref()
            .ok_or(IdentityError::NotConfigured)?;
        let set: JwkSet = self
            .client
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| IdentityError::Keys(e.to_string()))?
            .error_for_status()
            .map_err(|e| IdentityError::Keys(e.to_string()))?
            .json()
            .await
            .map_err(|e| IdentityError::Keys(e.to_string()))?;
        *self.cache.lock().expect("jwks cache") = Some((Instant::now(), set.clone()));
        Ok(set)
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, IdentityError> {
        let (Some(issuer), Some(audience)) = (self.issuer.as_deref(), self.audience.as_deref())
        else {
            return Err(IdentityError::NotConfigured);
        };
        let header = decode_header(token).map_err(|e| IdentityError::Invalid(e.to_string()))?;
        let kid = header
            .kid
            .clone()
            .ok_or_else(|| IdentityError::Invalid("no key id".into()))?;
        let mut set = self.keys(false).await?;
        if set.find(&kid).is_none() {
            set = self.keys(true).await?;
        }
        let jwk = set
            .find(&kid)
            .ok_or_else(|| IdentityError::Invalid("signed by an unknown key".into()))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| IdentityError::Invalid(e.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let data = decode::<Claims>(token, &key, &validation)
            .map_err(|e| IdentityError::Invalid(e.to_string()))?;
        let email = data
            .claims
            .email
            .ok_or_else(|| IdentityError::Invalid("no email claim".into()))?;
        Ok(Identity {
            email,
            person_id: data.claims.sub,
        })
    }
}
