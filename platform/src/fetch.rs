//! The one way this server fetches a URL that came from outside (a webhook,
//! a message, an API caller): no server-side request forgery.
//!
//! A [`Fetcher`] serves one integration (Webex files, Connect media) and
//! knows which URLs it may fetch ([`FetchRules`]):
//!
//! * the integration's own origin (scheme, host and port of its configured
//!   base URL). Plain `http` only there, and only when that base URL is
//!   itself `http` on loopback (the sandbox);
//! * otherwise `https` on the default port, to a host matching an allowed
//!   pattern (`example.com` exactly, or `*.example.com` for its subdomains);
//! * never credentials in the URL, never a private, loopback or link-local
//!   address (an IP literal in the URL, or what a host name resolves to),
//!   except the sandbox's loopback origin;
//! * redirects followed by hand (at most [`MAX_REDIRECTS`]), each hop checked
//!   by the same rules; the bearer token only goes to the first origin;
//! * a connect timeout, a stall timeout and a total timeout, and the body
//!   capped while it streams in ([`Fetched::chunk`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
pub use domain::links::HostPattern;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{StatusCode, Url};

/// Redirects followed at most, each one checked.
pub const MAX_REDIRECTS: usize = 5;

/// Why a URL was not fetched, or its body not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL (or a redirect) is not allowed: says which rule.
    #[error("{0}")]
    NotAllowed(String),
    /// The body is larger than the cap.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// Network trouble or a timeout: trying again may help.
    #[error("{0}")]
    Unavailable(String),
}

/// Timeouts of every fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// To open the connection.
    pub connect_timeout: Duration,
    /// From the request to the last byte of the body.
    pub total_timeout: Duration,
    /// Longest wait for the next bytes (a stalled download ends sooner).
    pub stall_timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(300),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Which URLs one integration may fetch (see the module's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRules {
    /// The integration, for messages ("Webex", "Connect").
    name: &'static str,
    /// The integration's own origin, from its configured base URL.
    base: Option<Url>,
    hosts: Vec<HostPattern>,
}

impl FetchRules {
    /// `base_url`: the integration's configured base URL (its origin is
    /// allowed); `hosts`: further https hosts (`host` or `*.domain`).
    pub fn new(
        name: &'static str,
        base_url: Option<&str>,
        hosts: &[String],
    ) -> Result<FetchRules, String> {
        let base = match base_url {
            Some(raw) => {
                let url = Url::parse(raw).map_err(|e| format!("{name} base URL {raw:?}: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(format!("{name} base URL {raw:?} is not an http(s) URL"));
                }
                Some(url)
            }
            None => None,
        };
        let hosts = hosts
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| HostPattern::parse(h))
            .collect::<Result<_, _>>()?;
        Ok(FetchRules { name, base, hosts })
    }

    /// The base URL's host when it is the sandbox on loopback (plain http
    /// and loopback addresses are allowed for it, and only for it).
    fn loopback_base(&self) -> Option<&Url> {
        self.base.as_ref().filter(|b| is_loopback_host(b))
    }

    /// Whether `url` may be fetched; the parsed URL if so. Pure: the
    /// address a name resolves to is checked when connecting.
    pub fn check(&self, url: &str) -> Result<Url, FetchError> {
        let refuse = |why: &str| {
            FetchError::NotAllowed(format!(
                "{} URL {} not allowed: {why}",
                self.name,
                shorten(url)
            ))
        };
        let parsed = Url::parse(url.trim()).map_err(|_| refuse("it is not a valid URL"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse("it carries credentials"));
        }
        let Some(host) = parsed.host_str().map(|h| h.to_ascii_lowercase()) else {
            return Err(refuse("it has no host"));
        };
        if let Some(base) = &self.base {
            if same_origin(&parsed, base) {
                return match parsed.scheme() {
                    "https" => Ok(parsed),
                    "http" if is_loopback_host(base) => Ok(parsed),
                    _ => Err(refuse(
                        "only https (plain http only to the sandbox on loopback)",
                    )),
                };
            }
        }
        if parsed.scheme() != "https" {
            return Err(refuse("only https is fetched"));
        }
        if parsed.port().is_some_and(|p| p != 443) {
            return Err(refuse("only the default https port is fetched"));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !is_public(ip) {
                return Err(refuse("it names a private or local address"));
            }
        }
        if self.hosts.iter().any(|p| p.matches(host)) {
            Ok(parsed)
        } else {
            Err(refuse(&format!(
                "host {host} is not in the allowed hosts of {}",
                self.name
            )))
        }
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

fn is_loopback_host(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// At most 120 characters of a URL, for error messages and logs.
fn shorten(url: &str) -> String {
    let url = url.trim();
    if url.chars().count() <= 120 {
        return url.to_string();
    }
    format!("{}…", url.chars().take(120).collect::<String>())
}

/// Whether an address is on the public internet: not loopback, private,
/// link-local (cloud metadata lives there), shared, reserved or multicast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64: may reach private v4
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// Resolves host names and drops non-public addresses, except for the
/// sandbox's loopback host names.
struct GuardedResolver {
    loopback_ok: Vec<String>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let loopback_ok = self.loopback_ok.contains(&host);
        Box::pin(resolve_guarded(host, loopback_ok))
    }
}

async fn resolve_guarded(
    host: String,
    loopback_ok: bool,
) -> Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
        .await?
        .filter(|a| is_public(a.ip()) || (loopback_ok && a.ip().is_loopback()))
        .collect();
    if found.is_empty() {
        return Err(format!("{host} resolves to no public address").into());
    }
    Ok(Box::new(found.into_iter()))
}

/// Fetches URLs of one integration under its [`FetchRules`]. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    rules: Arc<FetchRules>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    pub fn new(rules: FetchRules, limits: FetchLimits) -> Fetcher {
        let loopback_ok = rules
            .loopback_base()
            .and_then(|b| b.host_str())
            .map(|h| vec![h.to_ascii_lowercase()])
            .unwrap_or_default();
        let client = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .read_timeout(limits.stall_timeout)
            .timeout(limits.total_timeout)
            // Followed by hand, so that every hop is checked.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { loopback_ok }))
            .build()
            .expect("a client with static settings builds");
        Fetcher {
            rules: Arc::new(rules),
            client,
        }
    }

    pub fn rules(&self) -> &FetchRules {
        &self.rules
    }

    /// Whether `url` may be fetched (or handed to someone who will fetch it
    /// in our name).
    pub fn check(&self, url: &str) -> Result<Url, FetchError> {
        self.rules.check(url)
    }

    /// GETs `url` (with a bearer token, sent only to the URL's own origin),
    /// following allowed redirects. Any status is answered (the caller
    /// sorts them); the body is read with [`Fetched::chunk`], at most
    /// `max_bytes` of it.
    pub async fn get(
        &self,
        url: &str,
        bearer: Option<&str>,
        max_bytes: u64,
    ) -> Result<Fetched, FetchError> {
        let first = self.check(url)?;
        let mut current = first.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.client.get(current.clone());
            if let Some(token) = bearer.filter(|_| same_origin(&current, &first)) {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.map_err(|e| {
                FetchError::Unavailable(if e.is_timeout() {
                    format!("no answer in time from {}", host_of(&current))
                } else {
                    format!("could not connect to {}", host_of(&current))
                })
            })?;
            if !response.status().is_redirection() {
                if response.content_length().is_some_and(|n| n > max_bytes) {
                    return Err(FetchError::TooLarge { limit: max_bytes });
                }
                return Ok(Fetched {
                    url: current,
                    response,
                    max_bytes,
                    read: 0,
                });
            }
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| current.join(l).ok())
                .ok_or_else(|| {
                    FetchError::NotAllowed(format!(
                        "{} redirected without a usable Location",
                        host_of(&current)
                    ))
                })?;
            current = self
                .check(next.as_str())
                .map_err(|e| FetchError::NotAllowed(format!("redirect refused: {e}")))?;
        }
        Err(FetchError::NotAllowed(format!(
            "more than {MAX_REDIRECTS} redirects from {}",
            host_of(&first)
        )))
    }
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or("?").to_string()
}

/// An answer whose body is still to be read, capped.
#[derive(Debug)]
pub struct Fetched {
    /// Where the answer came from (after redirects).
    pub url: Url,
    response: reqwest::Response,
    max_bytes: u64,
    read: u64,
}

impl Fetched {
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// The next piece of the body (`None` at the end); an error as soon as
    /// the body grows past the cap, before the piece is handed on.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        let chunk = self.response.chunk().await.map_err(|e| {
            FetchError::Unavailable(if e.is_timeout() {
                "the download stalled or took too long".into()
            } else {
                "the download was interrupted".into()
            })
        })?;
        if let Some(c) = &chunk {
            self.read += c.len() as u64;
            if self.read > self.max_bytes {
                return Err(FetchError::TooLarge {
                    limit: self.max_bytes,
                });
            }
        }
        Ok(chunk)
    }

    /// The whole body (small bodies only: it is held in memory), capped.
    pub async fn bytes(mut self) -> Result<Vec<u8>, FetchError> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk().await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(base: Option<&str>, hosts: &[&str]) -> FetchRules {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        FetchRules::new("Test", base, &hosts).unwrap()
    }

    #[test]
    fn the_integrations_own_origin_is_allowed() {
        let r = rules(Some("https://webexapis.com/v1"), &[]);
        assert!(r.check("https://webexapis.com/v1/contents/abc").is_ok());
        assert!(r.check("https://WEBEXAPIS.com:443/anything").is_ok());
        for bad in [
            "http://webexapis.com/v1/contents/abc",
            "https://webexapis.com:8443/v1/contents/abc",
            "https://webexapis.com.evil.example/v1/contents/abc",
            "https://evil.example/v1/contents/abc",
            "https://user:pw@webexapis.com/v1/contents/abc",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(
                matches!(r.check(bad), Err(FetchError::NotAllowed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn plain_http_and_loopback_only_for_the_sandbox_origin() {
        let sandbox = rules(Some("http://127.0.0.1:3000/sandbox/connect"), &[]);
        assert!(sandbox
            .check("http://127.0.0.1:3000/sandbox/connect/media/x")
            .is_ok());
        assert!(sandbox.check("http://127.0.0.1:3000/media/x/y.png").is_ok());
        assert!(sandbox.check("http://127.0.0.1:3001/secret").is_err());
        assert!(sandbox.check("http://localhost:3000/secret").is_err());
        assert!(sandbox.check("https://127.0.0.1/secret").is_err());
        let localhost = rules(Some("http://localhost:3100/sandbox/webex/v1"), &[]);
        assert!(localhost.check("http://localhost:3100/x").is_ok());
        assert_eq!(
            localhost.loopback_base().and_then(|b| b.host_str()),
            Some("localhost")
        );
        // http on a public host is not the sandbox: refused even there.
        let public_http = rules(Some("http://connect.example.com"), &[]);
        assert!(public_http.check("http://connect.example.com/x").is_err());
        assert!(public_http.loopback_base().is_none());
    }

    #[test]
    fn allowed_hosts_need_https_on_the_default_port() {
        let r = rules(None, &["*.webexconnect.io", "media.example.com"]);
        assert!(r.check("https://media.us.webexconnect.io/a.jpg").is_ok());
        assert!(r.check("https://x.webexconnect.io:443/a.jpg").is_ok());
        assert!(r.check("https://media.example.com/a.jpg").is_ok());
        for bad in [
            "https://webexconnect.io/a.jpg",     // the apex is not a subdomain
            "https://evilwebexconnect.io/a.jpg", // not a subdomain either
            "https://webexconnect.io.evil.example/a", // suffix tricks
            "http://media.us.webexconnect.io/a.jpg", // plain http
            "https://media.us.webexconnect.io:8443/a", // other port
            "https://sub.media.example.com/a.jpg", // exact host only
            "https://127.0.0.1/a.jpg",
            "https://[::1]/a.jpg",
            "https://169.254.169.254/latest/meta-data",
        ] {
            assert!(r.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_are_validated() {
        for bad in [
            "https://x.com",
            "x.com:443",
            "x.com/path",
            "*",
            "*.com.",
            "local",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
        // Empty entries (a trailing comma, an empty setting) are skipped.
        assert!(FetchRules::new("T", None, &["".into(), "  ".into()]).is_ok());
        assert!(HostPattern::parse("*.WebexConnect.io").is_ok());
    }

    #[test]
    fn private_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    /// A listener on loopback: `/redirect` sends to `to`, anything else
    /// answers "ok". Counts requests.
    async fn listener(to: Option<String>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use axum::response::IntoResponse;
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let to = to.clone();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                match (uri.path(), to) {
                    ("/redirect", Some(to)) => (
                        axum::http::StatusCode::FOUND,
                        [(axum::http::header::LOCATION, to)],
                    )
                        .into_response(),
                    _ => "ok".into_response(),
                }
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (base, hits)
    }

    /// A listener that streams 64 pieces of 1 KiB without `Content-Length`.
    async fn unannounced() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for _ in 0..64 {
                        let piece = format!("400\r\n{}\r\n", "x".repeat(1024));
                        if socket.write_all(piece.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        base
    }

    #[tokio::test]
    async fn redirects_are_followed_only_within_the_allowed_hosts() {
        let (outside, outside_hits) = listener(None).await;
        let (base, base_hits) = listener(Some(format!("{outside}/secret"))).await;
        let fetcher = Fetcher::new(rules(Some(&base), &[]), FetchLimits::default());
        let err = fetcher
            .get(&format!("{base}/redirect"), Some("tok"), 100)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::NotAllowed(m) if m.contains("redirect refused")),
            "{err:?}"
        );
        assert_eq!(base_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(outside_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        // A redirect within the origin is followed.
        let (same, _) = listener(Some("/plain".into())).await;
        let fetcher = Fetcher::new(rules(Some(&same), &[]), FetchLimits::default());
        let body = fetcher
            .get(&format!("{same}/redirect"), None, 100)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(body, b"ok");
    }

    #[tokio::test]
    async fn bodies_are_cut_off_at_the_cap_while_streaming() {
        let base = unannounced().await;
        let fetcher = Fetcher::new(rules(Some(&base), &[]), FetchLimits::default());
        let mut fetched = fetcher
            .get(&format!("{base}/big"), None, 10_000)
            .await
            .unwrap();
        let mut handed_on = 0u64;
        let err = loop {
            match fetched.chunk().await {
                Ok(Some(c)) => handed_on += c.len() as u64,
                Ok(None) => panic!("read past the cap"),
                Err(e) => break e,
            }
        };
        assert_eq!(err, FetchError::TooLarge { limit: 10_000 });
        assert!(handed_on <= 10_000, "{handed_on}");
        let whole = fetcher
            .get(&format!("{base}/big"), None, 64 * 1024)
            .await
            .unwrap();
        assert_eq!(whole.bytes().await.unwrap().len(), 64 * 1024);
    }
}
