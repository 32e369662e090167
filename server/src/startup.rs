//! Builds the application (state, routes, middleware) and serves it.

use axum::extract::FromRef;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Config;
use crate::integrations::Integrations;
use crate::{api, ops};
use domain::store::{Rules, Store};

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub config: Arc<Config>,
    pub integrations: Arc<Integrations>,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    grace: Duration,
}

impl Application {
    /// Opens and migrates the database, binds the listener, assembles routes.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let rules = Rules {
            phone_region: config.phone_region,
        };
        let store = Store::connect(&config.database_url, rules)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open database {}: {e}",
                    config.database_url_redacted()
                )
            })?;
        store.migrate().await?;
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
        let integrations = Integrations::resolve(&config.integrations, &format!("http://{addr}"));
        let state = AppState {
            integrations: Arc::new(integrations),
            leptos_options,
            store: store.clone(),
            config: Arc::new(config),
        };
        Ok(Application {
            listener,
            router: router(state),
            store,
            grace,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
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
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
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
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Every route: SSR pages, REST API, ops endpoints, static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let store = state.store.clone();
    let leptos_options = state.leptos_options.clone();
    Router::new()
        .merge(api::router(state.clone()))
        .merge(ops::router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(store.clone()),
            move || app::shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
        .with_state(state)
        .layer(CatchPanicLayer::custom(api::error::panic_response))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
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
