//! Building the service from its settings: database, engines, declared
//! clusters, the job manager's loop, the HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::ServiceExt;
use axum::extract::Request;
use edp_core::events::{self, Events};
use edp_core::{Edp, Engines, catalog, manager};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::Layer as _;
use tower_http::cors::CorsLayer;

use crate::auth::{self, Auth};
use crate::config::Settings;
use crate::routes;

#[derive(Clone)]
pub struct AppState {
    pub edp: Edp,
    pub auth: Arc<Auth>,
    pub limits: Limits,
    pub events: Events,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub metrics_admin_only: bool,
}

/// Largest request bodies, in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub json: usize,
    /// Binary uploads: the core refuses anything over its own limit with
    /// DATA_TOO_BIG, so this only needs to let that limit through.
    pub upload: usize,
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    scheduler: JoinHandle<()>,
    /// The retention purge, unless everything is kept.
    retention: Option<JoinHandle<()>>,
    event_poller: JoinHandle<()>,
    cors: Option<CorsLayer>,
    /// Held while edpd runs: a second edpd on the same SQLite file refuses.
    _sqlite_lock: Option<std::fs::File>,
}

impl Application {
    /// Everything but serving. Port 0 binds a free port (see [`Self::addr`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // First: engines loaded below already time their calls.
        let metrics = crate::telemetry::metrics();
        raise_open_file_limit();
        if let Some(problem) = settings.auth_problem() {
            anyhow::bail!(problem);
        }
        let (_, root_problems) = settings.file_roots();
        for problem in root_problems {
            tracing::warn!("{problem}: nothing under it can be used");
        }
        let data_dir = settings.paths.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", data_dir.display()))?;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), data_dir = %data_dir.display(), "edpd starting");
        let sqlite_lock = edp_core::db::lock_sqlite(&settings.database_url())?;
        let db = edp_core::db::connect(&settings.database_url())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", settings.database_shown()))?;
        tracing::info!(url = %settings.database_shown(), "database ready");

        // Bound first: the callback URL engines hand out needs the port.
        let listener = TcpListener::bind((settings.server.host, settings.server.port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", settings.server.host, settings.server.port))?;
        let mut core_settings = settings.core();
        core_settings.public_url = Some(settings.public_url(listener.local_addr()?));

        let (hints, hints_rx) = tokio::sync::mpsc::unbounded_channel();
        // Plugins are loaded, now and whenever the directory changes, on a
        // thread of their own: never on the async workers.
        let engines = Engines::start(settings.plugin_config(), hints.clone()).await?;
        let edp = Edp::new(db, engines, core_settings, hints);

        let mut declared = Vec::new();
        for (name, declaration) in &settings.clusters {
            let cluster = catalog::clusters::declare(
                &edp,
                &settings.auth.default_project,
                name,
                &declaration.plugin_name,
                declaration.cluster_configs.clone(),
                declaration.projects.clone().unwrap_or_else(|| vec![settings.auth.default_project.clone()]),
                declaration.max_concurrent_jobs,
            )
            .await?;
            declared.push(cluster);
        }
        let scheduler = manager::spawn(edp.clone(), hints_rx);
        let retention = edp_core::retention::spawn(edp.clone());
        let (events, event_poller) = events::spawn(edp.clone());
        let cors = cors(&settings.server.cors_origins)?;
        let auth = Arc::new(settings.auth());
        summary(&edp, &settings, &auth, &declared, listener.local_addr()?).await;
        let limits = Limits { json: settings.server.max_body_bytes, upload: settings.jobs.max_binary_bytes as usize };
        let metrics_admin_only = settings.server.metrics_admin_only;
        Ok(Self {
            listener,
            state: AppState { edp, auth, limits, events, metrics, metrics_admin_only },
            scheduler,
            retention,
            event_poller,
            cors,
            _sqlite_lock: sqlite_lock,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM. Jobs are not touched: they keep
    /// running and are re-attached by the next start.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut router = routes::router(self.state.clone());
        if let Some(cors) = self.cors {
            router = router.layer(cors);
        }
        // The project is lifted out of the path before routing, so this
        // wraps the router rather than being one of its layers.
        let app = axum::middleware::map_request(auth::lift_project).layer(router);
        let app = axum::middleware::from_fn(crate::extract::refuse_unstorable_urls).layer(app);
        let served = axum::serve(self.listener, ServiceExt::<Request>::into_make_service(app))
            .with_graceful_shutdown(shutdown_signal())
            .await;
        self.scheduler.abort();
        if let Some(retention) = self.retention {
            retention.abort();
        }
        self.event_poller.abort();
        served
    }
}

/// The start-up summary, at info: what an operator checks first when
/// something is off. No credential: the database URL is shown without its
/// user, password and query; tokens are counted, never shown.
async fn summary(edp: &Edp, settings: &Settings, auth: &Auth, declared: &[edp_core::model::Cluster], addr: SocketAddr) {
    let engines = edp.engines().snapshot();
    let loaded: Vec<String> =
        engines.loaded().map(|e| format!("{} {}", e.description.id, e.description.version)).collect();
    tracing::info!(
        dir = %settings.plugin_dir().display(),
        loaded = %if loaded.is_empty() { "none".to_string() } else { loaded.join(", ") },
        refused = engines.refused().len(),
        "engines"
    );
    for refused in engines.refused() {
        tracing::warn!(file = %refused.file.display(), reason = %refused.reason, "plugin refused");
    }
    tracing::info!(mode = %auth.describe(), "auth");
    let registered = edp_core::catalog::clusters::count_by_status(edp).await;
    match registered {
        Ok((active, error)) => {
            let names: Vec<String> = declared.iter().map(|c| format!("{} ({})", c.name, c.status)).collect();
            tracing::info!(
                declared = %if names.is_empty() { "none".to_string() } else { names.join(", ") },
                active,
                error,
                "clusters"
            );
        }
        Err(e) => tracing::warn!(error = %e, "clusters: cannot count them"),
    }
    tracing::info!(
        address = %addr,
        public_url = %edp.settings().public_url.as_deref().unwrap_or(""),
        "serving the API; /healthz, /readyz, /metrics, /openapi.json"
    );
}

/// Lets dashboards at `origins` call the API from a browser, with a token
/// and a `Last-Event-ID`. No origins: no CORS headers at all.
fn cors(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::AllowOrigin;
    let origins: Vec<&str> = origins.iter().map(|o| o.trim().trim_end_matches('/')).filter(|o| !o.is_empty()).collect();
    let allowed = match origins.as_slice() {
        [] => return Ok(None),
        // Any page may call: tokens are headers, never cookies, so no
        // browser sends one on its own.
        ["*"] => AllowOrigin::any(),
        _ => AllowOrigin::list(
            origins
                .iter()
                .map(|o| match HeaderValue::from_str(o) {
                    Ok(v) if *o != "*" && o.contains("://") => Ok(v),
                    _ => Err(anyhow::anyhow!("server.cors_origins: '{o}' is not an origin (scheme://host[:port])")),
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                HeaderName::from_static("x-auth-token"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([HeaderName::from_static("openstack-api-version")])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

/// Each job, log follower, plugin and connection holds descriptors; the
/// usual soft limit (1024) is far below what one edpd needs, and the hard
/// limit is ours to take.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some() && limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(from = ?limit.current, to = ?limit.maximum, "raised the open-file limit"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down; running jobs keep running");
}
