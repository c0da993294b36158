//! v1.1 data sources: v2's, updated with `PUT` rather than `PATCH`.

use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::data_sources::{self, DataSourcePatch, NewDataSource};

use super::shape;
use crate::error::ApiResult;
use crate::extract::{Json, PAGING, Params};
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewDataSource>) -> ApiResult<Response> {
    Ok(accepted("data_source", shape::data_source(data_sources::create(&s.edp, &scope, new).await?)))
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["type", "name"]].concat())?;
    let found =
        data_sources::list(&s.edp, &scope, params.get("type"), params.get("name"), &params.list_query()?).await?;
    Ok(page("data_sources", found.map(shape::data_source)))
}

pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("data_source", shape::data_source(data_sources::get(&s.edp, &scope, &id).await?)))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<DataSourcePatch>,
) -> ApiResult<Response> {
    Ok(accepted("data_source", shape::data_source(data_sources::update(&s.edp, &scope, &id, patch).await?)))
}

pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    data_sources::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
