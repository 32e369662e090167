//! How browser sessions are held by the browser and how long they live: the
//! cookie's name and attributes, the idle and the absolute lifetime. The
//! sessions themselves are in `auth.rs` (`WebSession`; only a hash of the
//! cookie's value is stored). The server and the UI's server functions both
//! use this policy; neither writes a session cookie of its own.

use std::time::Duration;

/// Cookie and lifetime settings of browser sessions.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub cookie_name: &'static str,
    /// `Secure` (and `SameSite=None; Partitioned` so the Webex sidebar iframe
    /// keeps the cookie). Off only for plain-http localhost.
    pub secure: bool,
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, however much it is used.
    pub lifetime: Duration,
}

impl SessionPolicy {
    /// `secure` for an https site: the cookie is then `__Host-` prefixed.
    pub fn new(secure: bool, idle: Duration, lifetime: Duration) -> Self {
        SessionPolicy {
            cookie_name: if secure {
                "__Host-cm_session"
            } else {
                "cm_session"
            },
            secure,
            idle,
            lifetime,
        }
    }

    /// The `Set-Cookie` value that gives the browser `value` for `max_age`;
    /// `None` removes the cookie (`Max-Age=0`).
    pub fn cookie(&self, value: &str, max_age: Option<Duration>) -> String {
        let mut cookie = format!("{}={value}; Path=/; HttpOnly", self.cookie_name);
        if self.secure {
            cookie.push_str("; Secure; SameSite=None; Partitioned");
        } else {
            cookie.push_str("; SameSite=Lax");
        }
        match max_age {
            Some(age) => cookie.push_str(&format!("; Max-Age={}", age.as_secs())),
            None => cookie.push_str("; Max-Age=0"),
        }
        cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(30 * 60);
    const LIFETIME: Duration = Duration::from_secs(12 * 3600);

    #[test]
    fn on_https_the_cookie_is_host_only_secure_and_kept_in_the_sidebar_iframe() {
        let policy = SessionPolicy::new(true, IDLE, LIFETIME);
        assert_eq!(policy.cookie_name, "__Host-cm_session");
        let cookie = policy.cookie("abc", Some(LIFETIME));
        assert_eq!(
            cookie,
            "__Host-cm_session=abc; Path=/; HttpOnly; Secure; SameSite=None; Partitioned; Max-Age=43200"
        );
        // What browsers demand of a `__Host-` cookie: Secure, Path=/, no Domain.
        assert!(!cookie.contains("Domain"));
    }

    #[test]
    fn on_plain_http_localhost_the_cookie_is_lax_and_not_secure() {
        let policy = SessionPolicy::new(false, IDLE, LIFETIME);
        assert_eq!(policy.cookie_name, "cm_session");
        assert_eq!(
            policy.cookie("abc", Some(IDLE)),
            "cm_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=1800"
        );
    }

    #[test]
    fn signing_out_removes_the_cookie_with_the_same_attributes() {
        for secure in [true, false] {
            let policy = SessionPolicy::new(secure, IDLE, LIFETIME);
            let removal = policy.cookie("", None);
            let set = policy.cookie("", Some(LIFETIME));
            assert!(removal.ends_with("; Max-Age=0"), "{removal}");
            // The same name, path and attributes, or the browser keeps the
            // cookie it has.
            assert_eq!(
                removal.trim_end_matches("; Max-Age=0"),
                set.trim_end_matches("; Max-Age=43200")
            );
        }
    }
}
