//! Job executions (Sahara v2 "jobs"), their logs and dry runs.

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use edp_core::idempotency::{self, Kind, Outcome};
use edp_core::manager::{self, DryRunJob, ExecutionFilter, ExecutionPatch, NewJob};
use edp_core::model::Execution;
use edp_core::{Edp, Scope};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{accepted, no_content, ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query, QueryParams, list_query};
use crate::openapi::{DryRunBody, JobBody, JobList, LogBody, OutputBody};
use crate::startup::AppState;

mod follow;

const LOG_CHUNK_DEFAULT: u64 = 64 * 1024;
const LOG_CHUNK_MAX: u64 = 4 * 1024 * 1024;

/// With an `Idempotency-Key`, a repeated submit answers the first job.
#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = NewJob,
    params(("Idempotency-Key" = Option<String>, Header, description = "The same key and body from the same project within 24 h answers the first job")),
    responses((status = 202, description = "Validated by the engine and stored PENDING; launched in the background", body = JobBody)))]
pub async fn launch(
    State(s): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
    Json(new): Json<NewJob>,
) -> ApiResult<Response> {
    Ok(accepted("job", submit(&s.edp, &scope, &headers, new).await?))
}

/// A submit, once per `Idempotency-Key` when the request has one (a repeat
/// answers the first job): v2's `POST /jobs` and v1.1's `execute`, which
/// share the keys of a project (the same job through either is one job).
pub async fn submit(edp: &Edp, scope: &Scope, headers: &HeaderMap, new: NewJob) -> ApiResult<Execution> {
    let Some(key) = idempotency_key(headers)? else {
        return Ok(manager::launch_job(edp, scope, new).await?);
    };
    let body = serde_json::to_value(&new).map_err(|e| ApiError::validation(e.to_string()))?;
    let launched = idempotency::once(edp, &scope.project_id, Kind::Job, &key, &body, || async {
        let job = manager::launch_job(edp, scope, new).await?;
        let id = job.id.clone();
        Ok((job, id))
    })
    .await?;
    Ok(match launched {
        Outcome::Made(job) => job,
        Outcome::Earlier(id) => manager::get(edp, scope, &id, false).await?,
    })
}

/// The `Idempotency-Key` header, if the request has one.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| ApiError::validation("Idempotency-Key must be visible ASCII characters"))
        })
        .transpose()
}

/// A new job from the request that made this one (202, the new job).
#[utoipa::path(post, path = "/jobs/{id}/rerun", tag = "jobs", params(("id" = String, Path)),
    responses((status = 202, description = "A new job from the same request", body = JobBody)))]
pub async fn rerun(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(accepted("job", manager::rerun(&s.edp, &scope, &id).await?))
}

/// What the engine would be asked to run; nothing is stored or submitted.
/// The template may be given inline (`job_template`), and the cluster may
/// be in Error (the answer says so).
#[utoipa::path(post, path = "/jobs/dry-run", tag = "jobs", request_body = DryRunJob,
    responses((status = 200, description = "What a launch would submit", body = DryRunBody)))]
pub async fn dry_run(State(s): State<AppState>, scope: Scope, Json(job): Json<DryRunJob>) -> ApiResult<Response> {
    Ok(ok("dry_run", manager::dry_run(&s.edp, &scope, job).await?))
}

list_query!(JobQuery {
    /// A status (`RUNNING`, ...).
    status: Option<String>,
    cluster_id: Option<String>,
    job_template_id: Option<String>,
    flow_id: Option<String>,
    /// The engine id (`local`, `oozie`, ...).
    engine: Option<String>,
    /// Jobs whose id starts with this (hexadecimal digits and `-`).
    id_prefix: Option<String>,
    /// Jobs the engine knows by this id.
    engine_job_id: Option<String>,
});

#[utoipa::path(get, path = "/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, description = "The jobs the caller may see", body = JobList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<JobQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    let filter = ExecutionFilter {
        status: q.status,
        flow_id: q.flow_id,
        cluster_id: q.cluster_id,
        job_template_id: q.job_template_id,
        engine: q.engine,
        id_prefix: q.id_prefix,
        engine_job_id: q.engine_job_id,
    };
    Ok(page("jobs", manager::list(&s.edp, &scope, filter, &query).await?))
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Ask the engine first (within `[jobs] refresh_timeout_secs`).
    #[serde(default)]
    refresh_status: bool,
}

impl QueryParams for GetQuery {}

#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = String, Path), GetQuery),
    responses((status = 200, description = "The job", body = JobBody)))]
pub async fn get(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> ApiResult<Response> {
    Ok(ok("job", manager::get(&s.edp, &scope, &id, q.refresh_status).await?))
}

#[utoipa::path(patch, path = "/jobs/{id}", tag = "jobs", params(("id" = String, Path)), request_body = ExecutionPatch,
    responses((status = 202, description = "Changed; `info.status` `cancel`, `suspend` or `resume` acts on the job", body = JobBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<ExecutionPatch>,
) -> ApiResult<Response> {
    Ok(accepted("job", manager::update(&s.edp, &scope, &id, patch).await?))
}

#[utoipa::path(delete, path = "/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted (a running job is cancelled first, and removed once it ends)")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    manager::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The byte offset to read from.
    #[serde(default)]
    offset: u64,
    /// At most this many bytes (1 to 4194304; default 65536).
    limit: Option<u64>,
    /// `stdout`, `stderr`, ... (the job's `streams`); default: the engine's main log.
    stream: Option<String>,
    /// Server-sent events as the log is written: `log` per chunk, then `end`.
    #[serde(default)]
    follow: bool,
    /// An earlier attempt's log (1 is the first; never followed).
    attempt: Option<u32>,
}

impl QueryParams for LogQuery {}

/// `?offset=N&limit=M&stream=stdout`: a chunk of the job's log and where
/// the next one starts. With `follow=true`, server-sent events instead: a
/// `log` event per chunk as it is written, then one `end` event.
#[utoipa::path(get, path = "/jobs/{id}/logs", tag = "jobs", params(("id" = String, Path), LogQuery),
    responses((status = 200, description = "A chunk of the log, or (follow) its events",
        content((LogBody = "application/json"), (crate::openapi::ServerSentEvent = "text/event-stream")))))]
pub async fn logs(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let limit = chunk_limit(q.limit)?;
    // An earlier attempt's log (never followed: it has ended).
    if let Some(attempt) = q.attempt {
        let chunk = manager::attempt_logs(&s.edp, &scope, &id, attempt, q.stream, q.offset, limit)
            .await
            .map_err(|e| ApiError::to_node(e, &uri))?;
        return Ok(ok("log", chunk));
    }
    if q.follow {
        // The job must exist, be visible and be this node's before the
        // stream starts.
        manager::served_here(&s.edp, &scope, &id).await.map_err(|e| ApiError::to_node(e, &uri))?;
        return Ok(follow::stream(s.edp.clone(), scope, id, q.stream, q.offset, limit).into_response());
    }
    let chunk =
        manager::logs(&s.edp, &scope, &id, q.stream, q.offset, limit).await.map_err(|e| ApiError::to_node(e, &uri))?;
    Ok(ok("log", chunk))
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct OutputQuery {
    /// The byte offset to read from.
    #[serde(default)]
    offset: u64,
    /// At most this many bytes (1 to 4194304; default 65536).
    limit: Option<u64>,
}

impl QueryParams for OutputQuery {}

/// `?offset=N&limit=M`: a page of a finished job's result (its output
/// data source's `part-*` files), like the logs.
#[utoipa::path(get, path = "/jobs/{id}/output", tag = "jobs", params(("id" = String, Path), OutputQuery),
    responses((status = 200, description = "A page of the job's result", body = OutputBody)))]
pub async fn output(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Query(q): Query<OutputQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let limit = chunk_limit(q.limit)?;
    let chunk = manager::output(&s.edp, &scope, &id, q.offset, limit).await.map_err(|e| ApiError::to_node(e, &uri))?;
    Ok(ok("output", chunk))
}

fn chunk_limit(limit: Option<u64>) -> ApiResult<u64> {
    let limit = limit.unwrap_or(LOG_CHUNK_DEFAULT);
    if limit == 0 || limit > LOG_CHUNK_MAX {
        return Err(ApiError::bad_params(format!("limit must be between 1 and {LOG_CHUNK_MAX}")));
    }
    Ok(limit)
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The execution's own secret, as the engine handed the URL out.
    token: Option<String>,
}

/// Backends add their own parameters (Oozie's `status`): ignored.
impl QueryParams for CallbackQuery {
    const OTHERS_IGNORED: bool = true;
}

/// Where an engine's backend reports a change (Oozie's notification URL).
/// Authenticated by the execution's own secret in `token`, not by a user
/// token; other parameters (Oozie adds `status`) are ignored: edpd asks the
/// engine rather than believing the caller.
#[utoipa::path(method(get, post, put), path = "/jobs/{id}/callback", tag = "jobs", params(("id" = String, Path), CallbackQuery),
    responses((status = 200, description = "Noted: the job is polled now", body = Object)))]
pub async fn callback(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<Response> {
    manager::callback(&s.edp, &id, q.token.as_deref()).await?;
    Ok(axum::Json(serde_json::json!({})).into_response())
}
