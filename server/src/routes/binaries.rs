//! Job binaries, and the uploaded bytes behind `internal-db://` URLs
//! (`PUT /job-binary-internals/{name}` with the raw bytes, as Sahara v1.1).

use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::catalog::job_binaries::{self, JobBinaryPatch, NewJobBinary};

use super::{accepted, no_content, ok, page};
use crate::error::ApiResult;
use crate::extract::{self, Json, Query, list_query};
use crate::openapi::{InternalBody, InternalList, JobBinaryBody, JobBinaryList};
use crate::startup::AppState;

#[utoipa::path(post, path = "/job-binaries", tag = "job-binaries", request_body = NewJobBinary,
    responses((status = 202, description = "Created", body = JobBinaryBody)))]
pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewJobBinary>) -> ApiResult<Response> {
    Ok(accepted("job_binary", job_binaries::create(&s.edp, &scope, new).await?))
}

list_query!(NameQuery {
    /// Those whose name contains this.
    name: Option<String>,
});

#[utoipa::path(get, path = "/job-binaries", tag = "job-binaries", params(NameQuery),
    responses((status = 200, description = "The job binaries the caller may see", body = JobBinaryList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<NameQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    Ok(page("binaries", job_binaries::list(&s.edp, &scope, q.name, &query).await?))
}

#[utoipa::path(get, path = "/job-binaries/{id}", tag = "job-binaries", params(("id" = String, Path)),
    responses((status = 200, description = "The job binary", body = JobBinaryBody)))]
pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_binary", job_binaries::get(&s.edp, &scope, &id).await?))
}

#[utoipa::path(patch, path = "/job-binaries/{id}", tag = "job-binaries", params(("id" = String, Path)),
    request_body = JobBinaryPatch, responses((status = 202, description = "Changed", body = JobBinaryBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<JobBinaryPatch>,
) -> ApiResult<Response> {
    Ok(accepted("job_binary", job_binaries::update(&s.edp, &scope, &id, patch).await?))
}

#[utoipa::path(delete, path = "/job-binaries/{id}", tag = "job-binaries", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_binaries::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/job-binaries/{id}/data", tag = "job-binaries", params(("id" = String, Path)),
    responses((status = 200, description = "The bytes of an internal binary", content_type = "application/octet-stream", body = Vec<u8>)))]
pub async fn data(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let (name, bytes) = job_binaries::data(&s.edp, &scope, &id).await?;
    Ok(download(&name, bytes))
}

#[utoipa::path(put, path = "/job-binary-internals/{key}", tag = "job-binaries",
    params(("key" = String, Path, description = "The file name to store the bytes under")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The bytes"),
    responses((status = 202, description = "Stored; `internal-db://<id>` names them", body = InternalBody)))]
pub async fn upload(
    State(s): State<AppState>,
    scope: Scope,
    Path(name): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let bytes = extract::body(req, s.limits.upload).await?;
    Ok(accepted("job_binary_internal", job_binaries::upload(&s.edp, &scope, &name, bytes.to_vec()).await?))
}

#[utoipa::path(get, path = "/job-binary-internals", tag = "job-binaries", params(NameQuery),
    responses((status = 200, description = "Uploaded bytes the caller may see", body = InternalList)))]
pub async fn list_internals(
    State(s): State<AppState>,
    scope: Scope,
    Query(q): Query<NameQuery>,
) -> ApiResult<Response> {
    let query = q.list_query();
    Ok(page("binaries", job_binaries::list_internals(&s.edp, &scope, q.name, &query).await?))
}

#[utoipa::path(get, path = "/job-binary-internals/{key}", tag = "job-binaries", params(("key" = String, Path, description = "The id")),
    responses((status = 200, description = "The uploaded bytes' record", body = InternalBody)))]
pub async fn get_internal(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_binary_internal", job_binaries::get_internal(&s.edp, &scope, &id).await?))
}

#[utoipa::path(get, path = "/job-binary-internals/{id}/data", tag = "job-binaries", params(("id" = String, Path)),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream", body = Vec<u8>)))]
pub async fn internal_data(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let (name, bytes) = job_binaries::internal_data(&s.edp, &scope, &id).await?;
    Ok(download(&name, bytes))
}

#[utoipa::path(delete, path = "/job-binary-internals/{key}", tag = "job-binaries", params(("key" = String, Path, description = "The id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_internal(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_binaries::delete_internal(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

pub(super) fn download(name: &str, bytes: Vec<u8>) -> Response {
    // Names are checked to be plain file names, so they quote safely.
    let disposition = format!("attachment; filename=\"{name}\"");
    (
        [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response()
}
