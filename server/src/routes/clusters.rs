use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::clusters::{self, ClusterFilter, ClusterPatch, NewCluster};

use super::{accepted, no_content, ok, page};
use crate::error::ApiResult;
use crate::extract::{Json, PAGING, Params};
use crate::startup::AppState;

pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewCluster>) -> ApiResult<Response> {
    Ok(accepted("cluster", clusters::create(&s.edp, &scope, new).await?))
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["name", "plugin_name", "plugin_version"]].concat())?;
    let filter = ClusterFilter {
        name: params.get("name"),
        plugin_name: params.get("plugin_name"),
        plugin_version: params.get("plugin_version"),
    };
    Ok(page("clusters", clusters::list(&s.edp, &scope, filter, &params.list_query()?).await?))
}

pub async fn get(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.allow(&["show_progress"])?;
    Ok(ok("cluster", clusters::get(&s.edp, &scope, &id).await?))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<ClusterPatch>,
) -> ApiResult<Response> {
    Ok(accepted("cluster", clusters::update(&s.edp, &scope, &id, patch).await?))
}

pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    clusters::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
