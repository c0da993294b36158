//! What operators and their tools read: `/healthz` (the process serves),
//! `/readyz` (it can do its work: the database answers, the plugin
//! directory was scanned) and `/metrics` (Prometheus text).
//!
//! Who may read them (ARCHITECTURE.md, "Security model"): anyone who
//! reaches edpd, as most services expose them, since probes and scrapers
//! carry no token; they show counts by engine, status and cluster id, never
//! a name, a project or anything a job was given. `[server]
//! metrics_admin_only = true` keeps `/metrics` for admins.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

/// `/healthz`: the process is up and its HTTP workers answer.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Response {
    axum::Json(Health { status: "ok" }).into_response()
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    status: &'static str,
}

/// Probes give up after a second or two: a database that takes longer is
/// not one to send work to.
const READY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// `/readyz`: 200 when edpd can serve jobs, 503 (in Sahara's error shape)
/// when it cannot: the database does not answer. Plugins are scanned before
/// edpd listens, so a listening edpd has scanned them; the counts say what
/// the scan found.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready: the database does not answer", body = crate::openapi::ErrorBody)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Response> {
    let answered = tokio::time::timeout(READY_PATIENCE, edp_core::observe::database_reachable(&s.edp)).await;
    if let Err(e) = answered.unwrap_or_else(|_| Err(format!("no answer within {READY_PATIENCE:?}"))) {
        // The driver's message stays in the log: it may name hosts.
        tracing::warn!(error = %e, "not ready: the database does not answer");
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NOT_READY", "the database does not answer"));
    }
    let engines = s.edp.engines().snapshot();
    Ok(axum::Json(Ready {
        status: "ready",
        database: "ok",
        plugins: Plugins { scanned: true, loaded: engines.loaded().count(), refused: engines.refused().len() },
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    status: &'static str,
    database: &'static str,
    plugins: Plugins,
}

#[derive(Serialize, ToSchema)]
pub struct Plugins {
    scanned: bool,
    loaded: usize,
    refused: usize,
}

/// `/metrics`: the Prometheus text exposition. Gauges read from the
/// database are refreshed first; if the database does not answer, the
/// counters are still served and `edp_jobs` keeps its last values.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn metrics(State(s): State<AppState>, scope: Result<edp_core::Scope, ApiError>) -> ApiResult<Response> {
    if s.metrics_admin_only && !scope.is_ok_and(|scope| scope.is_admin()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "/metrics is for admins here ([server] metrics_admin_only): send an admin's X-Auth-Token",
        ));
    }
    if let Err(e) = edp_core::observe::refresh_gauges(&s.edp).await {
        tracing::warn!(error = %e, "metrics: cannot read the database's counts");
    }
    s.metrics.run_upkeep();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], s.metrics.render()).into_response())
}
