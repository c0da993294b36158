//! v1.1 job binaries (updated with `PUT`) and job binary internals, the
//! uploaded bytes behind `internal-db://` (`PUT /job-binary-internals/{name}`
//! with the raw bytes; renamed and made public with `PATCH`).

use axum::extract::{Path, Request, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::job_binaries::{self, InternalPatch, JobBinaryPatch, NewJobBinary};

use super::shape;
use crate::error::ApiResult;
use crate::extract::{self, Json, Query};
use crate::openapi::{V1InternalBody, V1InternalList, V1JobBinaryBody, V1JobBinaryList};
use crate::routes::binaries::NameQuery;
use crate::routes::binaries::download;
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

#[utoipa::path(post, path = "/job-binaries", tag = "v1.1", request_body = NewJobBinary,
    responses((status = 202, description = "Created", body = V1JobBinaryBody)))]
pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewJobBinary>) -> ApiResult<Response> {
    Ok(accepted("job_binary", shape::job_binary(job_binaries::create(&s.edp, &scope, new).await?)))
}

#[utoipa::path(get, path = "/job-binaries", tag = "v1.1", params(NameQuery),
    responses((status = 200, description = "The job binaries the caller may see", body = V1JobBinaryList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<NameQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    let found = job_binaries::list(&s.edp, &scope, q.name, &query).await?;
    Ok(page("binaries", found.map(shape::job_binary)))
}

#[utoipa::path(get, path = "/job-binaries/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 200, description = "The job binary", body = V1JobBinaryBody)))]
pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_binary", shape::job_binary(job_binaries::get(&s.edp, &scope, &id).await?)))
}

#[utoipa::path(put, path = "/job-binaries/{id}", tag = "v1.1", params(("id" = String, Path)), request_body = JobBinaryPatch,
    responses((status = 202, description = "Changed", body = V1JobBinaryBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<JobBinaryPatch>,
) -> ApiResult<Response> {
    Ok(accepted("job_binary", shape::job_binary(job_binaries::update(&s.edp, &scope, &id, patch).await?)))
}

#[utoipa::path(delete, path = "/job-binaries/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_binaries::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/job-binaries/{id}/data", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 200, description = "The bytes of an internal binary", content_type = "application/octet-stream", body = Vec<u8>)))]
pub async fn data(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let (name, bytes) = job_binaries::data(&s.edp, &scope, &id).await?;
    Ok(download(&name, bytes))
}

#[utoipa::path(put, path = "/job-binary-internals/{key}", tag = "v1.1",
    params(("key" = String, Path, description = "The file name to store the bytes under")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The bytes"),
    responses((status = 202, description = "Stored", body = V1InternalBody)))]
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

#[utoipa::path(get, path = "/job-binary-internals", tag = "v1.1", params(NameQuery),
    responses((status = 200, description = "Uploaded bytes the caller may see", body = V1InternalList)))]
pub async fn list_internals(
    State(s): State<AppState>,
    scope: Scope,
    Query(q): Query<NameQuery>,
) -> ApiResult<Response> {
    let query = q.list_query();
    let found = job_binaries::list_internals(&s.edp, &scope, q.name, &query).await?;
    Ok(page("binaries", found.map(shape::internal)))
}

#[utoipa::path(get, path = "/job-binary-internals/{key}", tag = "v1.1", params(("key" = String, Path, description = "The id")),
    responses((status = 200, description = "The uploaded bytes' record", body = V1InternalBody)))]
pub async fn get_internal(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_binary_internal", shape::internal(job_binaries::get_internal(&s.edp, &scope, &id).await?)))
}

#[utoipa::path(patch, path = "/job-binary-internals/{key}", tag = "v1.1", params(("key" = String, Path, description = "The id")),
    request_body = InternalPatch, responses((status = 202, description = "Renamed or shared", body = V1InternalBody)))]
pub async fn update_internal(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<InternalPatch>,
) -> ApiResult<Response> {
    let internal = job_binaries::update_internal(&s.edp, &scope, &id, patch).await?;
    Ok(accepted("job_binary_internal", shape::internal(internal)))
}

#[utoipa::path(get, path = "/job-binary-internals/{id}/data", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream", body = Vec<u8>)))]
pub async fn internal_data(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let (name, bytes) = job_binaries::internal_data(&s.edp, &scope, &id).await?;
    Ok(download(&name, bytes))
}

#[utoipa::path(delete, path = "/job-binary-internals/{key}", tag = "v1.1", params(("key" = String, Path, description = "The id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_internal(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_binaries::delete_internal(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
