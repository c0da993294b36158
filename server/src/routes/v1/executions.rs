//! v1.1 job executions (v2's "jobs"): listed, read, refreshed, cancelled
//! with `GET .../cancel`, changed with `PATCH`, deleted.

use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::manager::{self, ExecutionFilter, ExecutionPatch};

use super::shape;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, PAGING, Params};
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

/// Sahara v1.1 filtered on any column; these are the ones core filters on
/// (`job_id` is the template).
pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["status", "cluster_id", "job_id"]].concat())?;
    let filter = ExecutionFilter {
        status: params.get("status"),
        cluster_id: params.get("cluster_id"),
        job_template_id: params.get("job_id"),
        ..ExecutionFilter::default()
    };
    Ok(page(
        "job_executions",
        manager::list(&s.edp, &scope, filter, &params.list_query()?).await?.map(shape::execution),
    ))
}

pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_execution", shape::execution(manager::get(&s.edp, &scope, &id, false).await?)))
}

/// The engine is asked first, as v2's `?refresh_status=true`.
pub async fn refresh(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_execution", shape::execution(manager::get(&s.edp, &scope, &id, true).await?)))
}

/// The cancel v2 asks for with `PATCH {"info": {"status": "cancel"}}`; the
/// answer is the execution as the request left it (TOBEKILLED, or KILLED
/// when it had not started), where Sahara showed it from before the cancel.
pub async fn cancel(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let patch: ExecutionPatch = serde_json::from_value(serde_json::json!({"info": {"status": "cancel"}}))
        .map_err(|e| ApiError::from(edp_core::Error::Internal(format!("the cancel action: {e}"))))?;
    Ok(ok("job_execution", shape::execution(manager::update(&s.edp, &scope, &id, patch).await?)))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<ExecutionPatch>,
) -> ApiResult<Response> {
    Ok(accepted("job_execution", shape::execution(manager::update(&s.edp, &scope, &id, patch).await?)))
}

pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    manager::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
