//! v1.1 job executions (v2's "jobs"): listed, read, refreshed, cancelled
//! with `GET .../cancel`, changed with `PATCH`, deleted.

use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::manager::{self, ExecutionFilter, ExecutionPatch};

use super::shape;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query, list_query};
use crate::openapi::{V1ExecutionBody, V1ExecutionList};
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

list_query!(
    /// Sahara v1.1 filtered on any column; these are the ones core filters
    /// on (`job_id` is the template).
    ExecutionQuery {
    /// A status (`RUNNING`, ...).
    status: Option<String>,
    cluster_id: Option<String>,
    /// The job template (v1.1's "job").
    job_id: Option<String>,
});

#[utoipa::path(get, path = "/job-executions", tag = "v1.1", params(ExecutionQuery),
    responses((status = 200, description = "The executions the caller may see", body = V1ExecutionList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<ExecutionQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    let filter = ExecutionFilter {
        status: q.status,
        cluster_id: q.cluster_id,
        job_template_id: q.job_id,
        ..ExecutionFilter::default()
    };
    Ok(page("job_executions", manager::list(&s.edp, &scope, filter, &query).await?.map(shape::execution)))
}

#[utoipa::path(get, path = "/job-executions/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 200, description = "The execution", body = V1ExecutionBody)))]
pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_execution", shape::execution(manager::get(&s.edp, &scope, &id, false).await?)))
}

/// The engine is asked first, as v2's `?refresh_status=true`.
#[utoipa::path(get, path = "/job-executions/{id}/refresh-status", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 200, description = "The execution, its engine asked first", body = V1ExecutionBody)))]
pub async fn refresh(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_execution", shape::execution(manager::get(&s.edp, &scope, &id, true).await?)))
}

/// The cancel v2 asks for with `PATCH {"info": {"status": "cancel"}}`; the
/// answer is the execution as the request left it (TOBEKILLED, or KILLED
/// when it had not started), where Sahara showed it from before the cancel.
#[utoipa::path(get, path = "/job-executions/{id}/cancel", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 200, description = "The execution as the cancel left it", body = V1ExecutionBody)))]
pub async fn cancel(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    let patch: ExecutionPatch = serde_json::from_value(serde_json::json!({"info": {"status": "cancel"}}))
        .map_err(|e| ApiError::from(edp_core::Error::Internal(format!("the cancel action: {e}"))))?;
    Ok(ok("job_execution", shape::execution(manager::update(&s.edp, &scope, &id, patch).await?)))
}

#[utoipa::path(patch, path = "/job-executions/{id}", tag = "v1.1", params(("id" = String, Path)), request_body = ExecutionPatch,
    responses((status = 202, description = "Changed", body = V1ExecutionBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<ExecutionPatch>,
) -> ApiResult<Response> {
    Ok(accepted("job_execution", shape::execution(manager::update(&s.edp, &scope, &id, patch).await?)))
}

#[utoipa::path(delete, path = "/job-executions/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    manager::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
