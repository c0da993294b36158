//! Job executions (Sahara v2 "jobs"), their logs and dry runs.

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::idempotency::{self, Kind, Outcome};
use edp_core::manager::{self, DryRunJob, ExecutionFilter, ExecutionPatch, NewJob};

use super::{accepted, no_content, ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, PAGING, Params};
use crate::startup::AppState;

mod follow;

const LOG_CHUNK_DEFAULT: u64 = 64 * 1024;
const LOG_CHUNK_MAX: u64 = 4 * 1024 * 1024;

/// With an `Idempotency-Key`, a repeated submit answers the first job.
pub async fn launch(
    State(s): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
    Json(new): Json<NewJob>,
) -> ApiResult<Response> {
    let Some(key) = idempotency_key(&headers)? else {
        return Ok(accepted("job", manager::launch_job(&s.edp, &scope, new).await?));
    };
    let body = serde_json::to_value(&new).map_err(|e| ApiError::validation(e.to_string()))?;
    let launched = idempotency::once(&s.edp, &scope.project_id, Kind::Job, &key, &body, || async {
        let job = manager::launch_job(&s.edp, &scope, new).await?;
        let id = job.id.clone();
        Ok((job, id))
    })
    .await?;
    Ok(match launched {
        Outcome::Made(job) => accepted("job", job),
        Outcome::Earlier(id) => accepted("job", manager::get(&s.edp, &scope, &id, false).await?),
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
pub async fn rerun(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(accepted("job", manager::rerun(&s.edp, &scope, &id).await?))
}

/// What the engine would be asked to run; nothing is stored or submitted.
/// The template may be given inline (`job_template`), and the cluster may
/// be in Error (the answer says so).
pub async fn dry_run(State(s): State<AppState>, scope: Scope, Json(job): Json<DryRunJob>) -> ApiResult<Response> {
    Ok(ok("dry_run", manager::dry_run(&s.edp, &scope, job).await?))
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(
        &[&PAGING[..], &["status", "cluster_id", "job_template_id", "flow_id", "engine", "id_prefix", "engine_job_id"]]
            .concat(),
    )?;
    let filter = ExecutionFilter {
        status: params.get("status"),
        flow_id: params.get("flow_id"),
        cluster_id: params.get("cluster_id"),
        job_template_id: params.get("job_template_id"),
        engine: params.get("engine"),
        id_prefix: params.get("id_prefix"),
        engine_job_id: params.get("engine_job_id"),
    };
    Ok(page("jobs", manager::list(&s.edp, &scope, filter, &params.list_query()?).await?))
}

pub async fn get(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.allow(&["refresh_status"])?;
    let refresh = params.flag("refresh_status")?;
    Ok(ok("job", manager::get(&s.edp, &scope, &id, refresh).await?))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<ExecutionPatch>,
) -> ApiResult<Response> {
    Ok(accepted("job", manager::update(&s.edp, &scope, &id, patch).await?))
}

pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    manager::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

/// `?offset=N&limit=M&stream=stdout`: a chunk of the job's log and where
/// the next one starts. With `follow=true`, server-sent events instead: a
/// `log` event per chunk as it is written, then one `end` event.
pub async fn logs(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    params.allow(&["offset", "limit", "stream", "follow", "attempt"])?;
    let offset = params.number("offset")?.unwrap_or(0);
    let limit = params.number("limit")?.unwrap_or(LOG_CHUNK_DEFAULT);
    if limit == 0 || limit > LOG_CHUNK_MAX {
        return Err(ApiError::bad_params(format!("limit must be between 1 and {LOG_CHUNK_MAX}")));
    }
    let stream = params.get("stream");
    // An earlier attempt's log (never followed: it has ended).
    if let Some(attempt) = params.number("attempt")? {
        let attempt = u32::try_from(attempt).map_err(|_| ApiError::bad_params("attempt is too large"))?;
        let chunk = manager::attempt_logs(&s.edp, &scope, &id, attempt, stream, offset, limit)
            .await
            .map_err(|e| ApiError::to_node(e, &uri))?;
        return Ok(ok("log", chunk));
    }
    if params.flag("follow")? {
        // The job must exist, be visible and be this node's before the
        // stream starts.
        manager::served_here(&s.edp, &scope, &id).await.map_err(|e| ApiError::to_node(e, &uri))?;
        return Ok(follow::stream(s.edp.clone(), scope, id, stream, offset, limit).into_response());
    }
    let chunk =
        manager::logs(&s.edp, &scope, &id, stream, offset, limit).await.map_err(|e| ApiError::to_node(e, &uri))?;
    Ok(ok("log", chunk))
}

/// `?offset=N&limit=M`: a page of a finished job's result (its output
/// data source's `part-*` files), like the logs.
pub async fn output(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    params.allow(&["offset", "limit"])?;
    let offset = params.number("offset")?.unwrap_or(0);
    let limit = params.number("limit")?.unwrap_or(LOG_CHUNK_DEFAULT);
    if limit == 0 || limit > LOG_CHUNK_MAX {
        return Err(ApiError::bad_params(format!("limit must be between 1 and {LOG_CHUNK_MAX}")));
    }
    let chunk = manager::output(&s.edp, &scope, &id, offset, limit).await.map_err(|e| ApiError::to_node(e, &uri))?;
    Ok(ok("output", chunk))
}

/// Where an engine's backend reports a change (Oozie's notification URL).
/// Authenticated by the execution's own secret in `token`, not by a user
/// token; other parameters (Oozie adds `status`) are ignored: edpd asks the
/// engine rather than believing the caller.
pub async fn callback(State(s): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    manager::callback(&s.edp, &id, params.get("token").as_deref()).await?;
    Ok(axum::Json(serde_json::json!({})).into_response())
}
