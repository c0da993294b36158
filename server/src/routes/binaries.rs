//! Job binaries, and the uploaded bytes behind `internal-db://` URLs
//! (`PUT /job-binary-internals/{name}` with the raw bytes, as Sahara v1.1).

use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::catalog::job_binaries::{self, JobBinaryPatch, NewJobBinary};

use super::{accepted, no_content, ok, page};
use crate::error::ApiResult;
use crate::extract::{self, Json, PAGING, Params};
use crate::startup::AppState;

pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewJobBinary>) -> ApiResult<Response> {
    Ok(accepted("job_binary", job_binaries::create(&s.edp, &scope, new).await?))
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["name"]].concat())?;
    Ok(page("binaries", job_binaries::list(&s.edp, &scope, params.get("name"), &params.list_query()?).await?))
}

pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_binary", job_binaries::get(&s.edp, &scope, &id).await?))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<JobBinaryPatch>,
) -> ApiResult<Response> {
    Ok(accepted("job_binary", job_binaries::update(&s.edp, &scope, &id, patch).await?))
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
    Ok(accepted("job_binary_internal", job_binaries::upload(&s.edp, &scope, &name, bytes.to_vec()).await?))
}

pub async fn list_internals(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["name"]].concat())?;
    Ok(page("binaries", job_binaries::list_internals(&s.edp, &scope, params.get("name"), &params.list_query()?).await?))
}

pub async fn get_internal(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_binary_internal", job_binaries::get_internal(&s.edp, &scope, &id).await?))
}

pub async fn internal_data(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let (name, bytes) = job_binaries::internal_data(&s.edp, &scope, &id).await?;
    Ok(download(&name, bytes))
}

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
