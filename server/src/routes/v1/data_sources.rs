//! v1.1 data sources: v2's, updated with `PUT` rather than `PATCH`.

use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::data_sources::{self, DataSourcePatch, NewDataSource};

use super::shape;
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::openapi::{V1DataSourceBody, V1DataSourceList};
use crate::routes::data_sources::DataSourceQuery;
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

#[utoipa::path(post, path = "/data-sources", tag = "v1.1", request_body = NewDataSource,
    responses((status = 202, description = "Created", body = V1DataSourceBody)))]
pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewDataSource>) -> ApiResult<Response> {
    Ok(accepted("data_source", shape::data_source(data_sources::create(&s.edp, &scope, new).await?)))
}

#[utoipa::path(get, path = "/data-sources", tag = "v1.1", params(DataSourceQuery),
    responses((status = 200, description = "The data sources the caller may see", body = V1DataSourceList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<DataSourceQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    let found = data_sources::list(&s.edp, &scope, q.kind, q.name, &query).await?;
    Ok(page("data_sources", found.map(shape::data_source)))
}

#[utoipa::path(get, path = "/data-sources/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 200, description = "The data source", body = V1DataSourceBody)))]
pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("data_source", shape::data_source(data_sources::get(&s.edp, &scope, &id).await?)))
}

#[utoipa::path(put, path = "/data-sources/{id}", tag = "v1.1", params(("id" = String, Path)), request_body = DataSourcePatch,
    responses((status = 202, description = "Changed", body = V1DataSourceBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<DataSourcePatch>,
) -> ApiResult<Response> {
    Ok(accepted("data_source", shape::data_source(data_sources::update(&s.edp, &scope, &id, patch).await?)))
}

#[utoipa::path(delete, path = "/data-sources/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    data_sources::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
