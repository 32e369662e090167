//! Host patterns, and which URLs a page may turn into a link or an image. A transcript shows
//! URLs that customers' channels and webhooks named; only http(s) URLs of
//! this product or of a host it allows are made live, anything else is
//! shown as text (no `javascript:`, `data:`, or look-alike hosts).

/// A host pattern: `example.com` (that host) or `*.example.com` (any
/// subdomain of it, not the domain itself). Lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    pub fn parse(raw: &str) -> Result<HostPattern, String> {
        let p = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let name = p.strip_prefix("*.").unwrap_or(&p);
        let valid = !name.is_empty()
            && name.contains('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !name.split('.').any(str::is_empty);
        if !valid {
            return Err(format!(
                "{raw:?} is not a host name or *.domain pattern (no scheme, port or path)"
            ));
        }
        Ok(HostPattern(p))
    }

    /// `host` must be lowercase (as `Url::host_str` gives it).
    pub fn matches(&self, host: &str) -> bool {
        match self.0.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == self.0,
        }
    }
}

/// Whether `url` may be rendered as a link or image. `allowed` holds
/// origins (`https://cm.example.com`, `http://127.0.0.1:3000`) or host
/// patterns (`*.webexconnect.io`, `media.example.com`; https only).
/// Relative paths of this site (`/media/...`) are allowed.
pub fn linkable(url: &str, allowed: &[String]) -> bool {
    let url = url.trim();
    if url.starts_with('/') {
        return !url.starts_with("//") && !url.contains('\\') && !url.chars().any(char::is_control);
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty()
        || authority.contains('@')
        || authority.contains('\\')
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return false;
    }
    let authority = authority.to_ascii_lowercase();
    let origin = format!("{scheme}://{authority}");
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority.as_str(),
    };
    allowed.iter().any(|a| {
        let a = a.trim().trim_end_matches('/').to_ascii_lowercase();
        if let Some((a_scheme, a_rest)) = a.split_once("://") {
            // An allowed base URL may have a path: its origin counts.
            let a_authority = a_rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{a_scheme}://{a_authority}") == origin
        } else {
            // The fetcher's host rule (`domain::fetch`): https only.
            scheme == "https" && HostPattern::parse(&a).is_ok_and(|p| p.matches(host))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![
            "http://127.0.0.1:3000".into(),
            "https://cm.example.com/".into(),
            "https://us.webexconnect.io/resources".into(),
            "*.webexconnect.io".into(),
        ]
    }

    #[test]
    fn only_our_files_and_allowed_hosts_are_live() {
        for ok in [
            "/media/abc/photo.jpg",
            "http://127.0.0.1:3000/media/abc/x.png",
            "https://cm.example.com/media/abc",
            "https://media.us.webexconnect.io/file/1.jpg",
            "HTTPS://Media.WebexConnect.io:443/x",
            "https://us.webexconnect.io/media/1.png",
        ] {
            assert!(linkable(ok, &allowed()), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "//evil.example/x",
            "/\\evil.example",
            "http://media.webexconnect.io/x",
            "https://webexconnect.io.evil.example/x",
            "https://evil.example/?u=https://cm.example.com",
            "https://cm.example.com@evil.example/x",
            "https://cm.example.com.evil.example/",
            "http://127.0.0.1:3001/x",
            "https://evil.example/x y",
            "ftp://cm.example.com/x",
            "",
        ] {
            assert!(!linkable(bad, &allowed()), "{bad}");
        }
    }
}
