//! Real processes for the crash and replica tests: one or more product
//! processes on one database, the simulated Webex / Connect served by the
//! test process itself (so that its state, the destinations and the call
//! log, survives the products' deaths), and for several products a
//! round-robin load balancer in front.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sandbox::driver::{free_port, Driver};
use sandbox::standalone::Standalone;
use serde_json::Value;
use store::scratch::ScratchDb;

pub const PRODUCT: &str = env!("CARGO_BIN_EXE_contact-manager");

pub const AGENT: &str = "agent-a@example.com"; // seeded in the standalone sandbox
pub const PASSWORD: &str = "a-long-test-password";

/// The processes and the temporary directory (and database); killed and
/// removed on drop, also when the test panics (then their logs are printed
/// first).
pub struct World {
    dir: PathBuf,
    pub db: ScratchDb,
    sandbox: Option<tokio::task::JoinHandle<()>>,
    /// Where the sandbox serves (it stays up while products come and go).
    standalone: Standalone,
    /// One slot per replica: its process while it runs, and its port.
    replicas: Vec<(Option<Child>, u16)>,
    starts: u32,
    /// Where Webex, Connect and the agent reach the product: the only
    /// replica, or the load balancer in front of several.
    public_port: u16,
    balancer: Option<tokio::task::JoinHandle<()>>,
}

impl World {
    /// The sandbox and `replicas` products on one database (`db`), running,
    /// with the agent created; the driver points at the product's public URL.
    pub async fn start(db: ScratchDb, replicas: usize) -> (World, Driver) {
        let dir = std::env::temp_dir().join(format!("cm-processes-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
        let mut world = World {
            dir,
            db,
            sandbox: None,
            standalone: Standalone { port: free_port() },
            replicas: ports.iter().map(|p| (None, *p)).collect(),
            starts: 0,
            public_port: if replicas == 1 { ports[0] } else { free_port() },
            balancer: None,
        };
        if replicas > 1 {
            let backends = ports
                .iter()
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect();
            world.balancer = Some(round_robin(world.public_port, backends).await);
        }

        // The product's agent, with a password (the sandbox seeds the same email).
        let mut create = Command::new(PRODUCT)
            .args(["create-agent", AGENT, "--password-stdin"])
            .env_remove("CM_CONFIG")
            .env("DATABASE_URL", world.db.url())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = create.stdin.take().unwrap();
            writeln!(stdin, "{PASSWORD}").unwrap();
        }
        assert!(create.wait().unwrap().success(), "create-agent");

        let sandbox = world.standalone.url();
        let driver = Driver::new(&world.public_url(), &sandbox);
        // The sandbox, in this process: it outlives every product process.
        world.sandbox = Some(world.standalone.serve(Some(&world.public_url())).await);
        driver
            .wait_ready(&driver.sandbox_url("/control/clock"))
            .await;
        for replica in 0..replicas {
            world.start_replica(replica);
        }
        for replica in 0..replicas {
            driver
                .wait_ready(&world.replica_url(replica, "/readyz"))
                .await;
        }
        (world, driver)
    }

    pub fn public_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.public_port)
    }

    pub fn replica_url(&self, replica: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.replicas[replica].1)
    }

    fn log(&self, name: &str) -> Stdio {
        std::fs::File::create(self.dir.join(name)).unwrap().into()
    }

    /// Starts (or starts again) replica `replica`, on its own port.
    pub fn start_replica(&mut self, replica: usize) {
        self.starts += 1;
        let log = format!("product-{replica}-{}.log", self.starts);
        let child = Command::new(PRODUCT)
            .arg("serve")
            .env_remove("CM_CONFIG")
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", self.db.url())
            .env("CM_BIND", format!("127.0.0.1:{}", self.replicas[replica].1))
            .env("CM_PUBLIC_URL", self.public_url())
            .envs(self.standalone.product_env())
            .stdout(Stdio::null())
            .stderr(self.log(&log))
            .spawn()
            .expect("the product starts");
        self.replicas[replica].0 = Some(child);
    }

    /// SIGKILL: no graceful shutdown, in-flight work is cut off.
    pub fn kill_replica(&mut self, replica: usize) {
        if let Some(mut child) = self.replicas[replica].0.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(balancer) = self.balancer.take() {
            balancer.abort();
        }
        if let Some(sandbox) = self.sandbox.take() {
            sandbox.abort();
        }
        let children = self
            .replicas
            .iter_mut()
            .filter_map(|(child, _)| child.take());
        for mut child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let mut names: Vec<_> = std::fs::read_dir(&self.dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".log") || n.ends_with(".err"))
                .collect();
            names.sort();
            for name in names {
                let text = std::fs::read_to_string(self.dir.join(&name)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(60).collect();
                eprintln!("---- {name} (last lines) ----");
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        self.db.remove_blocking();
    }
}

/// A load balancer for the test, as haproxy or nginx would be set up in
/// front of replicas: each request goes to the next backend in turn, and to
/// the one after when a backend refuses the connection (it is down); a
/// backend that dies mid-request answers 502, as a real balancer would.
async fn round_robin(port: u16, backends: Vec<String>) -> tokio::task::JoinHandle<()> {
    use axum::body::{to_bytes, Body};
    use axum::extract::{Request, State};
    use axum::response::Response;

    use axum::http::header;
    const HOP_BY_HOP: [header::HeaderName; 4] = [
        header::HOST,
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ];

    #[derive(Clone)]
    struct Pool {
        backends: Arc<Vec<String>>,
        next: Arc<AtomicUsize>,
        http: reqwest::Client,
    }

    async fn forward(State(pool): State<Pool>, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let first = pool.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..pool.backends.len() {
            let backend = &pool.backends[(first + i) % pool.backends.len()];
            let mut headers = parts.headers.clone();
            // Hop-by-hop and framing headers are the client library's to set.
            for name in HOP_BY_HOP {
                headers.remove(name);
            }
            let sent = pool
                .http
                .request(parts.method.clone(), format!("{backend}{path}"))
                .headers(headers)
                .body(body.clone())
                .send()
                .await;
            let answer = match sent {
                Ok(answer) => answer,
                Err(e) if e.is_connect() => continue,
                Err(_) => break,
            };
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if !HOP_BY_HOP.contains(name) {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            return response.body(Body::from(bytes)).unwrap();
        }
        Response::builder()
            .status(502)
            .body(Body::from("no backend answered"))
            .unwrap()
    }

    let pool = Pool {
        backends: Arc::new(backends),
        next: Arc::new(AtomicUsize::new(0)),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let app = axum::Router::new().fallback(forward).with_state(pool);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() })
}

/// What the sandbox's delivery attempts containing `needle` came to.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub enum Fate {
    /// Still being tried (or not yet tried).
    #[default]
    Pending,
    /// The product answered 2xx: it owns the message now.
    Acknowledged,
    /// Given up: every attempt failed, or a final refusal.
    Failed,
}

pub fn fate(deliveries: &[Value], needle: &str) -> Fate {
    let attempts: Vec<&Value> = deliveries
        .iter()
        .filter(|d| d["body"].as_str().unwrap_or_default().contains(needle))
        .collect();
    let statuses: Vec<Option<u64>> = attempts.iter().map(|d| d["status"].as_u64()).collect();
    if statuses.iter().flatten().any(|s| (200..300).contains(s)) {
        Fate::Acknowledged
    } else if statuses.len() >= 3 // the sandbox's attempts per delivery
        || statuses
            .iter()
            .flatten()
            .any(|s| *s != 429 && *s < 500)
    {
        Fate::Failed
    } else {
        Fate::Pending
    }
}

/// How many deliveries to the product it answered with a 2xx so far.
pub async fn acknowledged_deliveries(driver: &Driver) -> usize {
    let calls = driver.calls(Some("delivery")).await;
    calls
        .iter()
        .filter(|c| {
            c["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s))
        })
        .count()
}
