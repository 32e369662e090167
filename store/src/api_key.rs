//! API keys for Webex Connect and scripts. Only a SHA-256 hash is stored: the
//! keys are 256 random bits, so a slow hash adds nothing but latency.

use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "cm_";

/// A newly generated key: shown to its creator once, then only its hash exists.
pub struct NewApiKey {
    pub plaintext: String,
    pub hash: String,
    /// The first characters, safe to display so keys can be told apart.
    pub display_prefix: String,
}

pub fn generate() -> NewApiKey {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let plaintext = format!("{PREFIX}{}", hex::encode(bytes));
    NewApiKey {
        hash: hash(&plaintext),
        display_prefix: plaintext[..PREFIX.len() + 6].to_string(),
        plaintext,
    }
}

pub fn hash(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_matches() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(hash(&a.plaintext), a.hash);
        assert!(a.plaintext.starts_with("cm_"));
        assert_eq!(a.plaintext.len(), 3 + 64);
        assert!(!a.hash.contains(&a.plaintext));
    }
}
