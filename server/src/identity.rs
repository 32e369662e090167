//! Verifies the Embedded App SDK user identity token (a Webex-signed JWT):
//! RS256 only (as Webex documents), signature against the configured JWKS,
//! issuer, audience, and `exp` / `nbf` / `iat` with a small leeway. The JWKS
//! is fetched at most once per [`MIN_REFRESH_INTERVAL`] (a flood of tokens
//! naming unknown keys cannot make us hammer the key server) and read up to
//! [`MAX_JWKS_BYTES`].

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
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
    iat: Option<i64>,
}

/// The only signature algorithm accepted. Pinned, never taken from the token.
const ALGORITHM: Algorithm = Algorithm::RS256;
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// A fetched JWKS is used for this long.
const JWKS_TTL: Duration = Duration::from_secs(600);
/// At most one JWKS fetch per this interval, whatever the tokens say.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// A JWKS larger than this is refused while reading (Webex's holds a few keys).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

#[derive(Default)]
struct KeyCache {
    keys: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

pub struct EmbeddedIdentity {
    jwks_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    client: reqwest::Client,
    /// Held across a fetch, so concurrent callers wait for it instead of
    /// fetching too.
    cache: tokio::sync::Mutex<KeyCache>,
}

impl EmbeddedIdentity {
    pub fn new(jwks_url: Option<String>, issuer: Option<String>, audience: Option<String>) -> Self {
        EmbeddedIdentity {
            jwks_url,
            issuer,
            audience,
            client: reqwest::Client::new(),
            cache: tokio::sync::Mutex::new(KeyCache::default()),
        }
    }

    /// The key with this id: from the cache while it is fresh and knows the
    /// id; otherwise a fetch, unless one happened less than
    /// [`MIN_REFRESH_INTERVAL`] ago.
    async fn key(&self, kid: &str) -> Result<Jwk, IdentityError> {
        let url = self
            .jwks_url
            .as_deref()
            .ok_or(IdentityError::NotConfigured)?;
        let mut cache = self.cache.lock().await;
        let cached = cache.keys.as_ref().and_then(|set| set.find(kid)).cloned();
        let age = cache.fetched_at.map(|at| at.elapsed());
        if let (Some(jwk), Some(age)) = (&cached, age) {
            if age < JWKS_TTL {
                return Ok(jwk.clone());
            }
        }
        if age.is_some_and(|age| age < MIN_REFRESH_INTERVAL) {
            return cached.ok_or_else(|| IdentityError::Invalid("signed by an unknown key".into()));
        }
        // Counted as a fetch even if it fails, so failures are throttled too.
        cache.fetched_at = Some(Instant::now());
        match self.fetch(url).await {
            Ok(set) => cache.keys = Some(set),
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch the Embedded App signing keys");
                // A stale key that is still in the old set beats refusing everyone.
                return cached.ok_or(e);
            }
        }
        cache
            .keys
            .as_ref()
            .and_then(|set| set.find(kid))
            .cloned()
            .ok_or_else(|| IdentityError::Invalid("signed by an unknown key".into()))
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, IdentityError> {
        let keys_error = |e: reqwest::Error| IdentityError::Keys(e.to_string());
        let mut response = self
            .client
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(keys_error)?
            .error_for_status()
            .map_err(keys_error)?;
        let too_large =
            || IdentityError::Keys(format!("the key set is larger than {MAX_JWKS_BYTES} bytes"));
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(keys_error)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|e| IdentityError::Keys(format!("the key set is not a JWKS: {e}")))
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, IdentityError> {
        let (Some(issuer), Some(audience)) = (self.issuer.as_deref(), self.audience.as_deref())
        else {
            return Err(IdentityError::NotConfigured);
        };
        let header = decode_header(token).map_err(|e| IdentityError::Invalid(e.to_string()))?;
        // Before any key is looked up: a token cannot choose how it is checked.
        if header.alg != ALGORITHM {
            return Err(IdentityError::Invalid(format!(
                "signed with {:?}; only RS256 is accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| IdentityError::Invalid("no key id".into()))?;
        let jwk = self.key(&kid).await?;
        let rsa_key = matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
            && jwk
                .common
                .key_algorithm
                .is_none_or(|alg| alg == KeyAlgorithm::RS256);
        if !rsa_key {
            return Err(IdentityError::Invalid(
                "the signing key is not an RS256 key".into(),
            ));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| IdentityError::Invalid(e.to_string()))?;
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(|e| IdentityError::Invalid(e.to_string()))?
            .claims;
        check_issued_at(claims.iat, unix_now())?;
        let email = claims
            .email
            .ok_or_else(|| IdentityError::Invalid("no email claim".into()))?;
        Ok(Identity {
            email,
            person_id: claims.sub,
        })
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A token issued in the future (beyond the leeway) was not issued by a
/// well-behaved clock: refuse it.
fn check_issued_at(iat: Option<i64>, now: i64) -> Result<(), IdentityError> {
    match iat {
        Some(iat) if iat > now + LEEWAY_SECS as i64 => {
            Err(IdentityError::Invalid("issued in the future (iat)".into()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iat_may_not_be_in_the_future_beyond_the_leeway() {
        assert!(check_issued_at(None, 1_000).is_ok());
        assert!(check_issued_at(Some(900), 1_000).is_ok());
        assert!(check_issued_at(Some(1_060), 1_000).is_ok());
        assert!(check_issued_at(Some(1_061), 1_000).is_err());
    }

    #[tokio::test]
    async fn tokens_not_signed_rs256_are_refused_before_any_key_fetch() {
        // The JWKS URL is unreachable: a refusal that needed it would say "keys".
        let identity = EmbeddedIdentity::new(
            Some("http://127.0.0.1:9/jwks.json".into()),
            Some("iss".into()),
            Some("aud".into()),
        );
        let hs256 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({ "email": "a@example.com", "exp": unix_now() + 60 }),
            &jsonwebtoken::EncodingKey::from_secret(b"public key as a secret"),
        )
        .unwrap();
        match identity.verify(&hs256).await {
            Err(IdentityError::Invalid(why)) => assert!(why.contains("RS256"), "{why}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(identity.cache.lock().await.fetched_at.is_none());
    }
}
