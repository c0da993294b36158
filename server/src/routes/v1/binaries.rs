//! v1.1 job binaries (updated with `PUT`) and job binary internals, the
//! uploaded bytes behind `internal-db://` (`PUT /job-binary-internals/{name}`
//! with the raw bytes; renamed and made public with `PATCH`).

use axum::extract::{Path, Request, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::job_binaries::{self, InternalPatch, JobBinaryPatch, NewJobBinary};

use super::shape;
use crate::error::ApiResult;
use crate::extract::{self, Json, PAGING, Params};
use crate::routes::binaries::download;
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewJobBinary>) -> ApiResult<Response> {
    Ok(accepted("job_binary", shape::job_binary(job_binaries::create(&s.edp, &scope, new).await?)))
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["name"]].concat())?;
    let found = job_binaries::list(&s.edp, &scope, params.get("name"), &params.list_query()?).await?;
    Ok(page("binaries", found.map(shape::job_binary)))
}

pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_binary", shape::job_binary(job_binaries::get(&s.edp, &scope, &id).await?)))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<JobBinaryPatch>,
) -> ApiResult<Response> {
    Ok(accepted("job_binary", shape::job_binary(job_binaries::update(&s.edp, &scope, &id, patch).await?)))
}

pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_binaries::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

pub async fn data(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let (name, bytes) = job_binaries::data(&s.edp, &scope, &id).await?;
    Ok(download(&name, bytes))
}

pub async fn upload(
    State(s): State<AppState>,
    scope: Scope,
    Path(name): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let bytes = extract::body(req, s.limits.upload).await?;
    let internal = job_binaries::upload(&s.edp, &scope, &name, bytes.to_vec()).await?;
    Ok(accepted("job_binary_internal", shape::internal(internal)))
}

pub async fn list_internals(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["name"]].concat())?;
    let found = job_binaries::list_internals(&s.edp, &scope, params.get("name"), &params.list_query()?).await?;
    Ok(page("binaries", found.map(shape::internal)))
}

pub async fn get_internal(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_binary_internal", shape::internal(job_binaries::get_internal(&s.edp, &scope, &id).await?)))
}

pub async fn update_internal(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<InternalPatch>,
) -> ApiResult<Response> {
    let internal = job_binaries::update_internal(&s.edp, &scope, &id, patch).await?;
    Ok(accepted("job_binary_internal", shape::internal(internal)))
}

pub async fn internal_data(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let (name, bytes) = job_binaries::internal_data(&s.edp, &scope, &id).await?;
    Ok(download(&name, bytes))
}

pub async fn delete_internal(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_binaries::delete_internal(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
