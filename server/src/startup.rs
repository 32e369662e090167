//! Builds the application (state from `wiring`, routes, middleware) and
//! serves it.

use axum::serve::ListenerExt;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Config;
use crate::identity::EmbeddedIdentity;
use crate::integrations::Integrations;
use crate::state::AppState;
use crate::wiring::Services;
use crate::{api, ops, web_auth};
use app::ssr::{Endpoint, ServerDeps};
use store::{SessionPolicy, Store};

pub struct Application {
    relay: Option<relay::Relay>,
    throttles: Arc<crate::throttle::Throttles>,
    dedup_retention: Duration,
    /// How long transcripts and media are kept.
    retention: domain::privacy::Retention,
    /// How long a conversation may go without a message before it ends.
    conversation_idle: Duration,
    /// How often the guests' webhooks are checked.
    webhook_check: Duration,
    listener: TcpListener,
    router: Router,
    store: Store,
    grace: Duration,
    /// This process among the replicas, for background tasks' leases.
    instance: String,
    /// Stops the live sidebar's poller.
    live_stop: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Opens and migrates the database, binds the listener, assembles routes.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        // Refused before the database is opened or anything listens: the sandbox where others could
        // reach it, or settings that are unusable or missing for the relay mode.
        config
            .integrations
            .check_sandbox_is_private(config.bind)
            .map_err(anyhow::Error::msg)?;
        Integrations::check(&config)?;
        if let Some(token) = &config.metrics_token {
            anyhow::ensure!(
                token.expose().chars().count() >= crate::metrics::MIN_TOKEN_CHARS,
                "CM_METRICS_TOKEN must be at least {} characters",
                crate::metrics::MIN_TOKEN_CHARS
            );
        }
        let business_numbers = config.business_numbers().map_err(anyhow::Error::msg)?;
        // Checked in either relay mode: a broken list is found before it is needed.
        config.whatsapp_templates().map_err(anyhow::Error::msg)?;
        crate::metrics::recorder();
        let store = crate::wiring::open_store(&config).await?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
        let addr = listener.local_addr()?;
        tracing::info!(
            database = %config.database_url_redacted(),
            backend = store.backend().name(),
            "listening on http://{addr}"
        );
        let leptos_options = LeptosOptions::builder()
            .output_name("contact_manager")
            .site_root(config.site_root.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let integrations = Integrations::resolve(&config, &format!("http://{addr}"))?;
        for warning in &integrations.warnings {
            tracing::warn!("{warning}");
        }
        let session_policy = SessionPolicy::new(
            integrations.public_url.starts_with("https://"),
            Duration::from_secs(config.session_idle_minutes * 60),
            Duration::from_secs(config.session_max_hours * 3600),
        );
        let identity = EmbeddedIdentity::new(
            crate::identity::IssuerPolicy {
                hosts: integrations.embedded.issuer_hosts.clone(),
                exact: integrations.embedded.issuer.clone(),
            },
            integrations.embedded.audience.clone(),
            &integrations.embedded.org_ids,
        );
        let Services {
            guests,
            media,
            relay,
        } = crate::wiring::Services::build(&config, &integrations, &store)?;
        let conversations =
            crate::wiring::conversations(&config, &integrations, &store, relay.clone());
        let client_ip_header = match config.client_ip_header.as_deref() {
            Some(name) => Some(axum::http::HeaderName::try_from(name.trim()).map_err(|_| {
                anyhow::anyhow!("CM_CLIENT_IP_HEADER is not a valid header name: {name:?}")
            })?),
            None => None,
        };
        let throttles = crate::throttle::Throttles::new(config.sign_in_limits(), client_ip_header);
        let headers =
            crate::headers::HeaderPolicy::new(&config.frame_ancestors, &integrations.public_url);
        let dedup_retention = Duration::from_secs(config.dedup_retention_hours * 3600);
        let webhook_check = Duration::from_secs(config.webhook_check_seconds);
        let (live_stop, live_stop_rx) = tokio::sync::watch::channel(false);
        let live = crate::live::LiveFeed::start(store.clone(), live_stop_rx);
        let state = AppState::new(crate::state::Shared {
            business_numbers,
            live,
            conversations,
            headers,
            throttles: throttles.clone(),
            relay,
            guests,
            media,
            integrations: Arc::new(integrations),
            session_policy,
            identity: Arc::new(identity),
            leptos_options,
            store: store.clone(),
            config: Arc::new(config),
        });
        let mut app_router = router(state.clone());
        if state.integrations.sandbox.is_some() {
            crate::sandbox_mount::seed_demo_agents(&state.store).await?;
            app_router = crate::sandbox_mount::router(&state.integrations, &state.store)
                .await?
                .merge(app_router);
            tracing::info!(
                "sandbox on: the whole story on one screen {url}/sandbox/demo · sidebar {url}/ · customer phone {url}/sandbox/phone · Webex agent client {url}/sandbox/webex-client",
                url = state.integrations.public_url
            );
        }
        Ok(Application {
            relay: state.relay.clone(),
            throttles,
            dedup_retention,
            retention: state.config.retention(),
            conversation_idle: Duration::from_secs(state.config.conversation_idle_hours * 3600),
            webhook_check,
            listener,
            router: app_router,
            store,
            grace,
            instance: uuid::Uuid::new_v4().to_string(),
            live_stop,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The native relay, when this server runs it.
    pub fn relay(&self) -> Option<&relay::Relay> {
        self.relay.as_ref()
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish
    /// (up to the grace period) and closes the database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let grace = self.grace;
        let (stop_worker, stop_rx) = tokio::sync::watch::channel(false);
        let worker = self
            .relay
            .clone()
            .map(|relay| tokio::spawn(async move { relay.work(stop_rx).await }));
        let webhook_watch = self.relay.clone().map(|relay| {
            let (every, stop) = (self.webhook_check, stop_worker.subscribe());
            let holder = self.instance.clone();
            tokio::spawn(async move { relay.watch_webhooks(every, &holder, stop).await })
        });
        let maintenance = tokio::spawn(maintain(
            Housekeeping {
                store: self.store.clone(),
                holder: self.instance.clone(),
                throttles: self.throttles.clone(),
                dedup_retention: self.dedup_retention,
                retention: self.retention,
                idle: self
                    .relay
                    .clone()
                    .map(|relay| (relay, self.conversation_idle)),
            },
            stop_worker.subscribe(),
        ));
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        // Each response goes out as soon as it is written: with Nagle's
        // algorithm, a response written in two parts waited for the
        // client's delayed ACK (40 ms) before its second part.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set on a connection");
            }
        });
        let server = axum::serve(listener, service).with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
        });
        let serving = tokio::spawn(async move { server.await });
        // The grace period starts when the signal arrives.
        tokio::select! {
            result = serving => { result??; }
            _ = async { shutdown_signal().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("grace period over, stopping with requests still in flight");
            }
        }
        // The worker finishes the deliveries it holds; unfinished jobs stay
        // in the outbox for the next start.
        let _ = stop_worker.send(true);
        let _ = self.live_stop.send(true);
        // Both end at the stop signal, giving their leases up on the way.
        let _ = tokio::time::timeout(Duration::from_secs(2), maintenance).await;
        if let Some(watch) = webhook_watch {
            let _ = tokio::time::timeout(Duration::from_secs(2), watch).await;
        }
        if let Some(worker) = worker {
            let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The housekeeping task's name, for its lease.
const MAINTENANCE_TASK: &str = "maintenance";

/// What housekeeping works with.
struct Housekeeping {
    store: Store,
    /// This process, for the lease.
    holder: String,
    throttles: Arc<crate::throttle::Throttles>,
    dedup_retention: Duration,
    retention: domain::privacy::Retention,
    /// The native relay, and how long a conversation may go without a message.
    idle: Option<(relay::Relay, Duration)>,
}

/// Housekeeping every few minutes: on one replica at a time (the lease's
/// holder), end conversations idle too long, forget webhook ids past the
/// dedup retention and transcripts and media past theirs; on every replica,
/// forget its own rate-limit state that has refilled.
async fn maintain(h: Housekeeping, mut stop: tokio::sync::watch::Receiver<bool>) {
    const EVERY: Duration = Duration::from_secs(300);
    let store = &h.store;
    loop {
        match store
            .take_lease(MAINTENANCE_TASK, &h.holder, EVERY * 2)
            .await
        {
            Ok(true) => {
                if let Some((relay, idle)) = &h.idle {
                    if let Err(e) = relay.close_idle_sessions(*idle).await {
                        tracing::warn!(error = %e, "could not end idle conversations");
                    }
                }
                prune(store, h.dedup_retention).await;
                crate::privacy::prune(store, h.retention).await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not take the housekeeping lease"),
        }
        h.throttles.sweep();
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => break,
        }
    }
    let _ = store.release_lease(MAINTENANCE_TASK, &h.holder).await;
}

/// What the database no longer needs to keep.
async fn prune(store: &Store, dedup_retention: Duration) {
    let cutoff = store::now_ms() - dedup_retention.as_millis() as i64;
    match store.prune_inbound_events(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "pruned old webhook dedup records"),
        Err(e) => tracing::warn!(error = %e, "could not prune webhook dedup records"),
    }
}

/// The verification key the admin page probes: the configured issuer's, else
/// that of the issuer the Developer Guide names (`https://idbroker.webex.com/idb`;
/// tokens from other clusters name their own). None while sign-in from
/// inside Webex is off (no audience).
fn embedded_keys_url(i: &Integrations) -> Option<String> {
    i.embedded.audience.as_ref()?;
    let issuer = i
        .embedded
        .issuer
        .as_deref()
        .unwrap_or("https://idbroker.webex.com/idb");
    Some(format!(
        "{}{}",
        issuer.trim_end_matches('/'),
        crate::identity::KEYS_PATH
    ))
}

/// What the UI's server functions need, from the application state.
fn server_deps(state: &AppState) -> ServerDeps {
    let i = &state.integrations;
    ServerDeps {
        store: state.store.clone(),
        session_policy: state.session_policy.clone(),
        conversations: state.conversations.clone(),
        sandbox: i.sandbox.is_some(),
        sign_in_ways: app::auth::SignInWays {
            webex: i.webex.sign_in.is_some(),
            embedded: i.embedded.audience.is_some(),
        },
        relay: state.relay.clone(),
        guests: state.guests.clone(),
        retention: state.config.retention(),
        business_numbers: state.business_numbers.clone(),
        // Our own files, and customers' media hosts (https only).
        link_origins: std::iter::once(i.public_url.clone())
            .chain(i.connect.api_url.iter().cloned())
            .chain(state.config.fetch_allowed_hosts_connect.iter().cloned())
            .collect(),
        endpoints: vec![
            Endpoint {
                name: "Webex REST API",
                url: i.webex.api_url.clone(),
            },
            Endpoint {
                name: "Webex OAuth (Sign in with Webex)",
                url: i.webex.sign_in.as_ref().map(|s| s.authorize_url.clone()),
            },
            Endpoint {
                name: "Embedded App verification key",
                url: embedded_keys_url(i),
            },
            Endpoint {
                name: "Webex Connect API",
                url: i.connect.api_url.clone(),
            },
            Endpoint {
                name: "Webex Connect startConversation webhook",
                url: i.connect.trigger.as_ref().map(|t| t.url.clone()),
            },
        ],
    }
}

/// Every route, in two routers: the machines' (the REST API with its keys,
/// the webhooks with their tokens and signatures) and the people's (pages,
/// sign-in, server functions, files: the browser session, the same-origin
/// check, sign-in limits), under the layers both share.
pub fn router(state: AppState) -> Router {
    let machines = Router::new()
        .merge(api::router(state.clone()))
        .merge(crate::webhooks::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::throttle::bad_credentials,
        ));
    Router::new()
        .merge(machines)
        .merge(people(&state))
        .merge(ops::router())
        // Every body is capped (server functions, webhooks, auth), with the
        // API's JSON error.
        .layer(RequestBodyLimitLayer::new(state.config.max_body_bytes))
        .layer(axum::middleware::map_response_with_state(
            state.config.max_body_bytes,
            api::error::payload_too_large_as_json,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.config.request_timeout_secs),
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::headers::security_headers))
        .with_state(state)
        .layer(CatchPanicLayer::custom(api::error::panic_response))
        .layer(axum::middleware::from_fn(in_request_scope))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let request_id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: query strings can carry phone numbers.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The app's routes, listed once per process. Listing renders the app with
/// resource loading switched off by a flag that is global to the process
/// (`leptos_server`'s `SuppressResourceLoad`): a page rendered elsewhere in
/// the process whose resource is first polled meanwhile waits forever
/// (leptos-rs/leptos#4773). Tests run many servers in one process; one of
/// their pages answered 408 after a minute now and then.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// The people's routes: SSR pages and server functions, sign-in, contact
/// import and export, and files, with the browser session resolved and
/// state changes only from this site.
fn people(state: &AppState) -> Router<AppState> {
    let routes = route_list();
    let deps = server_deps(state);
    let leptos_options = state.leptos_options.clone();
    // The bundle, script and styles, gzipped when the browser takes it:
    // `scripts/build` writes a `.gz` beside each (the release bundle is a
    // third of its size so). The rest of `site_root` is the fallback's.
    let pkg = std::path::Path::new(leptos_options.site_root.as_ref())
        .join(leptos_options.site_pkg_dir.as_ref());
    Router::new()
        .nest_service(
            "/pkg",
            tower_http::services::ServeDir::new(pkg).precompressed_gzip(),
        )
        .merge(web_auth::routes())
        .merge(crate::contacts_csv::routes())
        .merge(crate::privacy::routes())
        .merge(crate::media::routes())
        .route("/events", axum::routing::get(crate::live::events))
        .leptos_routes_with_context(
            state,
            routes,
            {
                let deps = deps.clone();
                move || {
                    provide_context(deps.clone());
                    crate::headers::provide_request_nonce();
                }
            },
            move || app::shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || {
                provide_context(deps.clone());
                crate::headers::provide_request_nonce();
            },
            app::shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web_auth::resolve_session,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web_auth::same_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::throttle::sign_in,
        ))
}

/// Runs the request as part of its id, so the jobs it enqueues carry it
/// (`relay::request_id`).
async fn in_request_scope(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match id {
        Some(id) => relay::request_id::scope(id, next.run(request)).await,
        None => next.run(request).await,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
