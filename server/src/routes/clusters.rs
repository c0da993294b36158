//! Clusters: registered, not provisioned (an engine and how to reach it).

use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::clusters::{self, ClusterFilter, ClusterPatch, NewCluster};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{accepted, no_content, ok, page};
use crate::error::ApiResult;
use crate::extract::{Json, Query, QueryParams, list_query};
use crate::openapi::{ClusterBody, ClusterList};
use crate::startup::AppState;

#[utoipa::path(post, path = "/clusters", tag = "clusters", request_body = NewCluster,
    responses((status = 202, description = "Registered (Active, or Error with the engine's reason)", body = ClusterBody)))]
pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewCluster>) -> ApiResult<Response> {
    Ok(accepted("cluster", clusters::create(&s.edp, &scope, new).await?))
}

list_query!(ClusterQuery {
    /// Clusters whose name contains this.
    name: Option<String>,
    plugin_name: Option<String>,
    plugin_version: Option<String>,
});

#[utoipa::path(get, path = "/clusters", tag = "clusters", params(ClusterQuery),
    responses((status = 200, description = "The clusters the caller may see", body = ClusterList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<ClusterQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    let filter = ClusterFilter { name: q.name, plugin_name: q.plugin_name, plugin_version: q.plugin_version };
    Ok(page("clusters", clusters::list(&s.edp, &scope, filter, &query).await?))
}

/// `show_progress`: python-saharaclient sends it; a registered cluster has
/// no provisioning to show.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ShowQuery {
    /// Accepted for Sahara's clients; nothing more is shown.
    #[allow(dead_code)]
    show_progress: Option<bool>,
}

impl QueryParams for ShowQuery {}

#[utoipa::path(get, path = "/clusters/{id}", tag = "clusters", params(("id" = String, Path), ShowQuery),
    responses((status = 200, description = "The cluster", body = ClusterBody)))]
pub async fn get(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Query(_): Query<ShowQuery>,
) -> ApiResult<Response> {
    Ok(ok("cluster", clusters::get(&s.edp, &scope, &id).await?))
}

#[utoipa::path(patch, path = "/clusters/{id}", tag = "clusters", params(("id" = String, Path)), request_body = ClusterPatch,
    responses((status = 202, description = "Changed (and checked again when its configs changed)", body = ClusterBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<ClusterPatch>,
) -> ApiResult<Response> {
    Ok(accepted("cluster", clusters::update(&s.edp, &scope, &id, patch).await?))
}

#[utoipa::path(delete, path = "/clusters/{id}", tag = "clusters", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    clusters::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
