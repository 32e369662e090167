//! Verifies the Embedded App SDK user identity token (a Webex-signed JWT) as
//! the Embedded Apps Developer Guide documents it ("Verifying the JWT",
//! "JWT field reference", docs/platform-contracts.md):
//!
//! * RS256 only, pinned, never taken from the token;
//! * the issuer (`iss`, which varies by Webex cluster) must be an https URL
//!   on an allowed host (`*.webex.com` by default) before anything is fetched
//!   from it, or the one issuer configured exactly (the sandbox, tests);
//! * the public key comes from `{iss}/oauth2/v2/keys/verification`:
//!   `{"key_valid_time": 21600, "new_verification_key": "<base64 DER>"}`
//!   (a JWKS `{"keys": [...]}` is accepted too);
//! * `aud` is the embedded app's id; `exp` / `nbf` / `iat` with a small leeway;
//! * optionally, the organization (`com.cisco.user.orgid`) must be allowed;
//! * the person is `com.cisco.user.uuid` (else `sub`); an empty email means
//!   the organization hides personal data from the app (PII Restrictions).
//!
//! Keys are cached per issuer and fetched at most once per
//! [`MIN_REFRESH_INTERVAL`] per issuer (a flood of forged tokens cannot make
//! us hammer a key server), read up to [`MAX_KEYS_BYTES`], and at most
//! [`MAX_ISSUERS`] issuers are remembered at a time.

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use platform::fetch::HostPattern;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Who the token says the user is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub email: String,
    pub person_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("sign-in from inside Webex is not configured on this server (CM_EMBEDDED_APP_AUDIENCE is not set)")]
    NotConfigured,
    #[error("the Webex identity token is not valid: {0}")]
    Invalid(String),
    #[error("the Webex signing keys could not be fetched: {0}")]
    Keys(String),
    /// A genuine token of someone who may not sign in this way.
    #[error("{0}")]
    Refused(String),
}

/// What the Embedded App identity token says (Developer Guide, "JWT field
/// reference"). Unknown claims are ignored.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    email: Option<String>,
    iat: Option<i64>,
    #[serde(rename = "com.cisco.user.uuid")]
    user_uuid: Option<String>,
    #[serde(rename = "com.cisco.user.orgid")]
    org_id: Option<String>,
}

/// The only signature algorithm accepted. Pinned, never taken from the token.
const ALGORITHM: Algorithm = Algorithm::RS256;
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// How long fetched keys are used when the response does not say
/// (`key_valid_time`), and the most we trust it to say.
const DEFAULT_KEYS_TTL: Duration = Duration::from_secs(600);
const MAX_KEYS_TTL: Duration = Duration::from_secs(6 * 3600);
/// At most one key fetch per issuer per this interval, whatever the tokens say.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// A key response larger than this is refused while reading (Webex's holds one key).
pub const MAX_KEYS_BYTES: usize = 64 * 1024;
/// Issuers whose keys are remembered at once; more (within the throttle
/// window) are refused rather than fetched.
pub const MAX_ISSUERS: usize = 32;
/// Where an issuer publishes its verification key, relative to `iss`.
pub const KEYS_PATH: &str = "/oauth2/v2/keys/verification";

/// Which issuers may sign identity tokens.
#[derive(Debug, Clone)]
pub struct IssuerPolicy {
    /// https issuers on these hosts (`*.webex.com` by default).
    pub hosts: Vec<HostPattern>,
    /// One more issuer trusted as written, any scheme (the sandbox, tests).
    pub exact: Option<String>,
}

impl IssuerPolicy {
    /// The reason `iss` is not trusted, if it is not.
    pub fn check(&self, iss: &str) -> Result<(), String> {
        if self.exact.as_deref() == Some(iss) {
            return Ok(());
        }
        let url = reqwest::Url::parse(iss).map_err(|_| format!("issuer {iss:?} is not a URL"))?;
        if url.scheme() != "https" {
            return Err(format!("issuer {iss:?} is not https"));
        }
        let plain = url.username().is_empty()
            && url.password().is_none()
            && url.port().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        let host = url.host_str().unwrap_or_default();
        if plain && self.hosts.iter().any(|p| p.matches(host)) {
            Ok(())
        } else {
            Err(format!(
                "issuer {iss:?} is not on an allowed host (CM_EMBEDDED_APP_ISSUER_HOSTS)"
            ))
        }
    }
}

/// One verification key and the key id it is published under, if any.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    key: DecodingKey,
}

#[derive(Default)]
struct KeyCache {
    keys: Vec<Key>,
    ttl: Duration,
    fetched_at: Option<Instant>,
}

pub struct EmbeddedIdentity {
    issuers: IssuerPolicy,
    audience: Option<String>,
    /// Empty: any organization. Lowercase uuids.
    org_ids: Vec<String>,
    client: reqwest::Client,
    /// Per issuer. The inner lock is held across a fetch, so concurrent
    /// callers for one issuer wait for it instead of fetching too.
    caches: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<KeyCache>>>>,
}

impl EmbeddedIdentity {
    pub fn new(issuers: IssuerPolicy, audience: Option<String>, org_ids: &[String]) -> Self {
        EmbeddedIdentity {
            issuers,
            audience,
            org_ids: org_ids
                .iter()
                .map(|id| uuid_of(id, "/ORGANIZATION/"))
                .filter(|id| !id.is_empty())
                .collect(),
            client: reqwest::Client::new(),
            caches: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The cache of one issuer, made if new. Forgets issuers not fetched
    /// within the throttle window when [`MAX_ISSUERS`] are remembered.
    fn cache_for(&self, issuer: &str) -> Result<Arc<tokio::sync::Mutex<KeyCache>>, IdentityError> {
        let mut caches = self
            .caches
            .lock()
            .expect("the issuer map lock is not poisoned");
        if let Some(cache) = caches.get(issuer) {
            return Ok(cache.clone());
        }
        if caches.len() >= MAX_ISSUERS {
            caches.retain(|_, cache| {
                cache.try_lock().map_or(true, |c| {
                    c.fetched_at
                        .is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL)
                })
            });
            if caches.len() >= MAX_ISSUERS {
                return Err(IdentityError::Keys(format!(
                    "more than {MAX_ISSUERS} issuers were seen in {} s",
                    MIN_REFRESH_INTERVAL.as_secs()
                )));
            }
        }
        let cache = Arc::new(tokio::sync::Mutex::new(KeyCache::default()));
        caches.insert(issuer.to_string(), cache.clone());
        Ok(cache)
    }

    /// Claims of a token signed by one of `issuer`'s keys: the cached keys
    /// while fresh; otherwise (or when none of them signed it) the keys
    /// fetched again, unless a fetch happened less than
    /// [`MIN_REFRESH_INTERVAL`] ago.
    async fn verified_claims(
        &self,
        token: &str,
        kid: Option<&str>,
        issuer: &str,
        validation: &Validation,
    ) -> Result<Claims, IdentityError> {
        let cache = self.cache_for(issuer)?;
        let mut cache = cache.lock().await;
        let age = cache.fetched_at.map(|at| at.elapsed());
        if age.is_some_and(|age| age < cache.ttl) {
            if let Some(claims) = try_keys(&cache.keys, kid, token, validation)? {
                return Ok(claims);
            }
        }
        if age.is_some_and(|age| age < MIN_REFRESH_INTERVAL) {
            return Err(not_signed());
        }
        // Counted as a fetch even if it fails, so failures are throttled too.
        cache.fetched_at = Some(Instant::now());
        match self.fetch(issuer).await {
            Ok((keys, ttl)) => {
                cache.keys = keys;
                cache.ttl = ttl;
            }
            Err(e) => {
                tracing::warn!(error = %e, issuer, "could not fetch the Embedded App verification key");
                // A stale key that still verifies beats refusing everyone.
                cache.ttl = MIN_REFRESH_INTERVAL;
                return try_keys(&cache.keys, kid, token, validation)?.ok_or(e);
            }
        }
        try_keys(&cache.keys, kid, token, validation)?.ok_or_else(not_signed)
    }

    async fn fetch(&self, issuer: &str) -> Result<(Vec<Key>, Duration), IdentityError> {
        let url = format!("{}{KEYS_PATH}", issuer.trim_end_matches('/'));
        let keys_error = |e: reqwest::Error| IdentityError::Keys(e.to_string());
        let mut response = self
            .client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(keys_error)?
            .error_for_status()
            .map_err(keys_error)?;
        let too_large = || {
            IdentityError::Keys(format!(
                "the key response is larger than {MAX_KEYS_BYTES} bytes"
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_KEYS_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(keys_error)? {
            if body.len() + chunk.len() > MAX_KEYS_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        parse_keys(&body).map_err(|why| IdentityError::Keys(format!("{url}: {why}")))
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, IdentityError> {
        let audience = self
            .audience
            .as_deref()
            .ok_or(IdentityError::NotConfigured)?;
        let header = decode_header(token).map_err(|e| IdentityError::Invalid(e.to_string()))?;
        // Before any key is looked up: a token cannot choose how it is checked.
        if header.alg != ALGORITHM {
            return Err(IdentityError::Invalid(format!(
                "signed with {:?}; only RS256 is accepted",
                header.alg
            )));
        }
        // Where the keys are comes from the token, so the issuer is checked
        // against the allowlist before anything is fetched from it.
        let issuer = unverified_issuer(token)?;
        self.issuers
            .check(&issuer)
            .map_err(IdentityError::Invalid)?;
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = self
            .verified_claims(token, header.kid.as_deref(), &issuer, &validation)
            .await?;
        check_issued_at(claims.iat, unix_now())?;
        self.identity(claims)
    }

    /// The rules on a genuine token's claims.
    fn identity(&self, claims: Claims) -> Result<Identity, IdentityError> {
        // First: when personal data is hidden the org id is a derived one too,
        // so an org refusal would point at the wrong cause.
        let email = claims.email.unwrap_or_default().trim().to_string();
        if email.is_empty() {
            return Err(IdentityError::Refused(
                "Webex did not share your email address with this app: your Webex \
                 organization's PII Restrictions setting (Control Hub) hides personal data \
                 from embedded apps. Ask your Webex administrator to allow it for Contact \
                 Manager, or sign in another way."
                    .into(),
            ));
        }
        if !self.org_ids.is_empty() {
            let org = uuid_of(
                claims.org_id.as_deref().unwrap_or_default(),
                "/ORGANIZATION/",
            );
            if !self.org_ids.contains(&org) {
                return Err(IdentityError::Refused(format!(
                    "your Webex organization ({org:?}) may not sign in here; the server allows \
                     only the organizations in CM_EMBEDDED_APP_ORG_IDS"
                )));
            }
        }
        let person_id = claims
            .user_uuid
            .or(claims.sub)
            .filter(|id| !id.trim().is_empty());
        Ok(Identity { email, person_id })
    }
}

fn not_signed() -> IdentityError {
    IdentityError::Invalid("not signed by a current key of its issuer".into())
}

/// `Some(claims)` from the first key (with the token's `kid`, or any key
/// when either has none) whose signature matches; `None` when none does.
/// A matching signature with a bad claim is that claim's error.
fn try_keys(
    keys: &[Key],
    kid: Option<&str>,
    token: &str,
    validation: &Validation,
) -> Result<Option<Claims>, IdentityError> {
    let candidates = keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid);
    for key in candidates {
        match decode::<Claims>(token, &key.key, validation) {
            Ok(data) => return Ok(Some(data.claims)),
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
            Err(e) => return Err(IdentityError::Invalid(e.to_string())),
        }
    }
    Ok(None)
}

/// The documented response, `{"key_valid_time": s, "new_verification_key":
/// "<base64 DER SubjectPublicKeyInfo>"}`, or a JWKS. RSA keys only.
fn parse_keys(body: &[u8]) -> Result<(Vec<Key>, Duration), String> {
    #[derive(Deserialize)]
    struct Verification {
        key_valid_time: Option<u64>,
        new_verification_key: String,
    }
    if let Ok(v) = serde_json::from_slice::<Verification>(body) {
        let der = base64::engine::general_purpose::STANDARD
            .decode(
                v.new_verification_key
                    .split_whitespace()
                    .collect::<String>(),
            )
            .map_err(|e| format!("new_verification_key is not base64: {e}"))?;
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        let key = DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| format!("new_verification_key is not an RSA public key: {e}"))?;
        let ttl = v
            .key_valid_time
            .map_or(DEFAULT_KEYS_TTL, Duration::from_secs)
            .clamp(MIN_REFRESH_INTERVAL, MAX_KEYS_TTL);
        return Ok((vec![Key { kid: None, key }], ttl));
    }
    let set: JwkSet = serde_json::from_slice(body)
        .map_err(|e| format!("neither {{\"new_verification_key\": ...}} nor a JWKS: {e}"))?;
    let keys: Vec<Key> = set
        .keys
        .iter()
        .filter(|jwk| {
            matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
                && jwk
                    .common
                    .key_algorithm
                    .is_none_or(|alg| alg == KeyAlgorithm::RS256)
        })
        .filter_map(|jwk| {
            Some(Key {
                kid: jwk.common.key_id.clone(),
                key: DecodingKey::from_jwk(jwk).ok()?,
            })
        })
        .collect();
    if keys.is_empty() {
        return Err("the key set has no RS256 key".into());
    }
    Ok((keys, DEFAULT_KEYS_TTL))
}

/// `iss` of a token whose signature is not checked yet (it names where the
/// key to check it is).
fn unverified_issuer(token: &str) -> Result<String, IdentityError> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let invalid = |why: &str| IdentityError::Invalid(why.to_string());
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| invalid("not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| invalid("the payload is not base64url"))?;
    serde_json::from_slice::<Iss>(&bytes)
        .map_err(|_| invalid("the payload is not a JSON object"))?
        .iss
        .ok_or_else(|| invalid("no issuer (iss)"))
}

/// The lowercase uuid of a Webex id: the raw uuid, or the base64
/// `ciscospark://{cluster}{kind}{uuid}` form the REST API shows.
fn uuid_of(id: &str, kind: &str) -> String {
    let id = id.trim();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded
        .as_deref()
        .filter(|d| d.starts_with("ciscospark://"))
        .and_then(|d| d.rsplit_once(kind))
    {
        Some((_, uuid)) => uuid.to_ascii_lowercase(),
        None => id.to_ascii_lowercase(),
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

    fn webex_hosts() -> IssuerPolicy {
        IssuerPolicy {
            hosts: vec![HostPattern::parse("*.webex.com").unwrap()],
            exact: None,
        }
    }

    #[test]
    fn iat_may_not_be_in_the_future_beyond_the_leeway() {
        assert!(check_issued_at(None, 1_000).is_ok());
        assert!(check_issued_at(Some(900), 1_000).is_ok());
        assert!(check_issued_at(Some(1_060), 1_000).is_ok());
        assert!(check_issued_at(Some(1_061), 1_000).is_err());
    }

    #[test]
    fn issuers_must_be_https_on_an_allowed_host() {
        let policy = webex_hosts();
        // The Developer Guide's examples.
        assert!(policy.check("https://idbroker.webex.com/idb").is_ok());
        assert!(policy.check("https://idbroker-b-us.webex.com/idb").is_ok());
        for bad in [
            "http://idbroker.webex.com/idb",
            "https://idbroker.webex.com.evil.example/idb",
            "https://evilwebex.com/idb",
            "https://webex.com@evil.example/idb",
            "https://user@idbroker.webex.com/idb",
            "https://idbroker.webex.com:8443/idb",
            "https://idbroker.webex.com/idb?x=1",
            "https://127.0.0.1/idb",
            "idbroker.webex.com/idb",
        ] {
            assert!(policy.check(bad).is_err(), "{bad} was trusted");
        }
        let with_sandbox = IssuerPolicy {
            exact: Some("http://127.0.0.1:3000/sandbox/webex/embedded".into()),
            ..webex_hosts()
        };
        assert!(with_sandbox
            .check("http://127.0.0.1:3000/sandbox/webex/embedded")
            .is_ok());
        assert!(with_sandbox
            .check("http://127.0.0.1:3000/sandbox/webex/embedded/x")
            .is_err());
    }

    #[test]
    fn org_ids_compare_by_uuid() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode("ciscospark://us/ORGANIZATION/86434DF5-AAAA-BBBB-CCCC-000000000001");
        assert_eq!(
            uuid_of(&b64, "/ORGANIZATION/"),
            "86434df5-aaaa-bbbb-cccc-000000000001"
        );
        assert_eq!(uuid_of(" ABC ", "/ORGANIZATION/"), "abc");
    }

    #[tokio::test]
    async fn tokens_not_signed_rs256_are_refused_before_any_key_fetch() {
        let identity = EmbeddedIdentity::new(webex_hosts(), Some("aud".into()), &[]);
        let hs256 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({
                "iss": "https://idbroker.webex.com/idb",
                "email": "a@example.com",
                "exp": unix_now() + 60,
            }),
            &jsonwebtoken::EncodingKey::from_secret(b"public key as a secret"),
        )
        .unwrap();
        match identity.verify(&hs256).await {
            Err(IdentityError::Invalid(why)) => assert!(why.contains("RS256"), "{why}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(identity.caches.lock().unwrap().is_empty());
    }
}
