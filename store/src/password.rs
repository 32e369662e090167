//! Local account passwords (argon2id). Hashing is slow by design: call these
//! from `spawn_blocking`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

use domain::error::FieldError;

pub const MIN_LEN: usize = 10;

pub fn validate(password: &str) -> Result<(), FieldError> {
    if password.chars().count() < MIN_LEN {
        return Err(FieldError::new(
            "password",
            format!("must be at least {MIN_LEN} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(FieldError::new("password", "is too long"));
    }
    Ok(())
}

pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Constant-time verification against a stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The server is hashing as many passwords as it may: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy checking passwords: try again in a moment")]
pub struct Busy;

/// Each check takes ~19 MiB and a core for a while (argon2id defaults), so a
/// flood of sign-ins must not run them all at once: at most one per core
/// runs, at most [`MAX_WAITING`] wait, and the rest are refused at once.
pub const MAX_WAITING: usize = 32;

static RUNNING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});
static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs a password hash or check with bounded concurrency and memory.
pub async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Busy> {
    use std::sync::atomic::Ordering;
    if WAITING.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
        WAITING.fetch_sub(1, Ordering::SeqCst);
        return Err(Busy);
    }
    let permit = RUNNING.acquire().await;
    WAITING.fetch_sub(1, Ordering::SeqCst);
    let _permit = permit.map_err(|_| Busy)?;
    tokio::task::spawn_blocking(work).await.map_err(|_| Busy)
}

/// A hash to verify against when the account does not exist, so that
/// unknown and known emails take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not-a-real-password-0000"))
}

/// A random password for accounts created without one.
pub fn generate() -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_of_checks_runs_a_few_at_a_time_and_refuses_the_rest() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let flood = (0..200).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            tokio::spawn(bounded(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            }))
        });
        let results: Vec<_> = futures_join(flood).await;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert!(most.load(Ordering::SeqCst) <= cores, "at most one per core");
        let refused = results.iter().filter(|r| r.is_err()).count();
        assert!(refused >= 200 - MAX_WAITING - cores, "{refused} refused");
        assert!(results.iter().any(|r| r.is_ok()), "some still run");
    }

    async fn futures_join<T>(
        handles: impl Iterator<Item = tokio::task::JoinHandle<Result<T, Busy>>>,
    ) -> Vec<Result<T, Busy>> {
        let mut out = Vec::new();
        for h in handles.collect::<Vec<_>>() {
            out.push(h.await.unwrap());
        }
        out
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterz", &h));
        assert!(!verify("x", "not a hash"));
        assert!(validate("short").is_err());
        assert!(validate("long enough!").is_ok());
    }
}
