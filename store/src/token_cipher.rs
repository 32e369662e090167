//! Encryption at rest of the access tokens we cache (guest tokens in
//! `guest_tokens`): AES-256-GCM with the key from `CM_TOKEN_ENCRYPTION_KEY`.
//! The row's subject is the associated data, so a sealed token moved to
//! another row does not open. A token that does not open (another key, a
//! tampered row) is treated as absent: the guest just logs in again.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::sync::Arc;

/// A 256-bit AES-GCM key. Cheap to clone; never printed.
#[derive(Clone)]
pub struct TokenCipher {
    key: Arc<LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher(***)")
    }
}

impl TokenCipher {
    /// From the configured key: base64 of exactly 32 bytes
    /// (`openssl rand -base64 32`).
    pub fn from_base64(encoded: &str) -> Result<TokenCipher, String> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| "is not base64 (make one with `openssl rand -base64 32`)".to_string())?;
        if bytes.len() != 32 {
            return Err(format!(
                "must be 32 bytes once base64-decoded, not {} (make one with `openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// A fresh random key, for one process (the sandbox): tokens sealed with
    /// it cannot be read after a restart, which only costs a login.
    pub fn generate() -> TokenCipher {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the OS random source works");
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> TokenCipher {
        let key = UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes is an AES-256 key");
        TokenCipher {
            key: Arc::new(LessSafeKey::new(key)),
            rng: SystemRandom::new(),
        }
    }

    /// `base64(nonce || ciphertext || tag)`, bound to `context` (the row key).
    /// Nonces are random 96-bit values: safe for far more tokens than a
    /// deployment caches under one key.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the OS random source works");
        let mut buffer = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .expect("AES-GCM sealing of a short token cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        STANDARD.encode(out)
    }

    /// The plaintext, or `None` when the value was not sealed by this key
    /// for this `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_with_the_same_key_and_context() {
        let cipher = TokenCipher::generate();
        let sealed = cipher.seal("secret-token", "sms_447700900123");
        assert!(!sealed.contains("secret-token"));
        assert_ne!(
            sealed,
            cipher.seal("secret-token", "sms_447700900123"),
            "fresh nonce"
        );
        assert_eq!(
            cipher.open(&sealed, "sms_447700900123").as_deref(),
            Some("secret-token")
        );
        assert_eq!(cipher.open(&sealed, "whatsapp_447700900123"), None);
        assert_eq!(
            TokenCipher::generate().open(&sealed, "sms_447700900123"),
            None
        );
        assert_eq!(cipher.open("secret-token", "sms_447700900123"), None);
        assert_eq!(cipher.open("", "sms_447700900123"), None);
    }

    #[test]
    fn configured_keys_must_be_32_base64_bytes() {
        let good = STANDARD.encode([7u8; 32]);
        let a = TokenCipher::from_base64(&good).unwrap();
        let b = TokenCipher::from_base64(&format!(" {good}\n")).unwrap();
        assert_eq!(b.open(&a.seal("t", "s"), "s").as_deref(), Some("t"));
        assert!(TokenCipher::from_base64(&STANDARD.encode([7u8; 16]))
            .unwrap_err()
            .contains("32 bytes"));
        assert!(TokenCipher::from_base64("not base64!").is_err());
        assert_eq!(format!("{a:?}"), "TokenCipher(***)");
    }
}
