//! Flows: several jobs submitted as one, ordered by the data they share.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::flows::{self, NewFlow};
use edp_core::idempotency::{self, Kind, Outcome};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{accepted, no_content, ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query, QueryParams, list_query};
use crate::openapi::{FlowBody, FlowList, GraphBody};
use crate::startup::AppState;

/// With an `Idempotency-Key`, a repeated submit answers the first flow.
#[utoipa::path(post, path = "/flows", tag = "flows", request_body = NewFlow,
    params(("Idempotency-Key" = Option<String>, Header, description = "The same key and body from the same project within 24 h answers the first flow")),
    responses((status = 202, description = "Checked, stored and started", body = FlowBody)))]
pub async fn submit(
    State(s): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
    Json(new): Json<NewFlow>,
) -> ApiResult<Response> {
    let Some(key) = super::jobs::idempotency_key(&headers)? else {
        return Ok(accepted("flow", flows::submit(&s.edp, &scope, new).await?));
    };
    let body = serde_json::to_value(&new).map_err(|e| ApiError::validation(e.to_string()))?;
    let submitted = idempotency::once(&s.edp, &scope.project_id, Kind::Flow, &key, &body, || async {
        let flow = flows::submit(&s.edp, &scope, new).await?;
        let id = flow.id.clone();
        Ok((flow, id))
    })
    .await?;
    Ok(match submitted {
        Outcome::Made(flow) => accepted("flow", flow),
        Outcome::Earlier(id) => accepted("flow", flows::get(&s.edp, &scope, &id).await?),
    })
}

list_query!(FlowQuery {
    /// RUNNING, SUCCEEDED, FAILED or KILLED.
    status: Option<String>,
});

#[utoipa::path(get, path = "/flows", tag = "flows", params(FlowQuery),
    responses((status = 200, description = "The flows the caller may see", body = FlowList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<FlowQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    Ok(page("flows", flows::list(&s.edp, &scope, q.status, &query).await?))
}

#[utoipa::path(get, path = "/flows/{id}", tag = "flows", params(("id" = String, Path)),
    responses((status = 200, description = "The flow and each job's state", body = FlowBody)))]
pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("flow", flows::get(&s.edp, &scope, &id).await?))
}

/// `{"info": {"status": "cancel"}}`, as for jobs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowPatch {
    info: FlowAction,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FlowAction {
    /// `cancel`, as for jobs.
    status: String,
}

#[utoipa::path(patch, path = "/flows/{id}", tag = "flows", params(("id" = String, Path)), request_body = FlowPatch,
    responses((status = 202, description = "Cancelled: running jobs are cancelled, waiting ones skipped", body = FlowBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<FlowPatch>,
) -> ApiResult<Response> {
    if !patch.info.status.eq_ignore_ascii_case("cancel") {
        return Err(ApiError::validation(format!("info.status '{}' is not an action: use cancel", patch.info.status)));
    }
    Ok(accepted("flow", flows::cancel(&s.edp, &scope, &id).await?))
}

#[utoipa::path(delete, path = "/flows/{id}", tag = "flows", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted (a finished flow)")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    flows::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct GraphQuery {
    /// `json` (the default) or `dot` (Graphviz).
    format: Option<String>,
}

impl QueryParams for GraphQuery {}

/// `?format=dot` for Graphviz; JSON otherwise.
#[utoipa::path(get, path = "/flows/{id}/graph", tag = "flows", params(("id" = String, Path), GraphQuery),
    responses((status = 200, description = "The flow's jobs and edges",
        content((GraphBody = "application/json"), (String = "text/vnd.graphviz")))))]
pub async fn graph(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Query(q): Query<GraphQuery>,
) -> ApiResult<Response> {
    match q.format.as_deref() {
        None | Some("json") => Ok(ok("graph", flows::graph_json(&s.edp, &scope, &id).await?)),
        Some("dot") => {
            let dot = flows::graph_dot(&s.edp, &scope, &id).await?;
            Ok(([(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")], dot).into_response())
        }
        Some(other) => Err(ApiError::bad_params(format!("format '{other}' is not known: use json or dot"))),
    }
}
