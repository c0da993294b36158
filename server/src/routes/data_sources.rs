//! Data sources: where jobs read and write (`file`, `hdfs`, ...).

use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::data_sources::{self, DataSourcePatch, NewDataSource};

use super::{accepted, no_content, ok, page};
use crate::error::ApiResult;
use crate::extract::{Json, Query, list_query};
use crate::openapi::{DataSourceBody, DataSourceList};
use crate::startup::AppState;

#[utoipa::path(post, path = "/data-sources", tag = "data-sources", request_body = NewDataSource,
    responses((status = 202, description = "Created", body = DataSourceBody)))]
pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewDataSource>) -> ApiResult<Response> {
    Ok(accepted("data_source", data_sources::create(&s.edp, &scope, new).await?))
}

list_query!(
    /// Shared with v1.1.
    DataSourceQuery {
    /// `file`, `hdfs`, ...
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Data sources whose name contains this.
    name: Option<String>,
});

#[utoipa::path(get, path = "/data-sources", tag = "data-sources", params(DataSourceQuery),
    responses((status = 200, description = "The data sources the caller may see", body = DataSourceList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<DataSourceQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    Ok(page("data_sources", data_sources::list(&s.edp, &scope, q.kind, q.name, &query).await?))
}

#[utoipa::path(get, path = "/data-sources/{id}", tag = "data-sources", params(("id" = String, Path)),
    responses((status = 200, description = "The data source", body = DataSourceBody)))]
pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("data_source", data_sources::get(&s.edp, &scope, &id).await?))
}

#[utoipa::path(patch, path = "/data-sources/{id}", tag = "data-sources", params(("id" = String, Path)),
    request_body = DataSourcePatch, responses((status = 202, description = "Changed", body = DataSourceBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<DataSourcePatch>,
) -> ApiResult<Response> {
    Ok(accepted("data_source", data_sources::update(&s.edp, &scope, &id, patch).await?))
}

#[utoipa::path(delete, path = "/data-sources/{id}", tag = "data-sources", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    data_sources::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
