//! `GET /v2/events`: changes to jobs and flows as server-sent events, for
//! any dashboard (edp's own included).
//!
//! - `event: job` / `event: flow`, `id: <cursor>`, `data: {"job": {...}}`
//!   or `{"flow": {...}}`: the object's state after a change;
//! - `event: job.deleted` / `event: flow.deleted`, `data: {"job": {"id":
//!   ..., "deleted_at": ...}}` (or `"flow"`): it is gone;
//! - `event: ready`, `id: <cursor>`: caught up (after the replay asked for
//!   with `Last-Event-ID`, or at once): load what you show now, apply
//!   changes on top;
//! - `event: reset`: too much changed since `Last-Event-ID` to replay:
//!   reload everything;
//! - `event: error`, then the end, if the database cannot be read.
//!
//! Only what the caller's project may see is sent. Design and guarantees:
//! `edp_core::events`.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::events::{Cursor, Item, Subscription};
use futures::Stream;
use serde_json::json;

use crate::error::ApiResult;
use crate::extract::{NoQuery, Query};
use crate::startup::AppState;

#[utoipa::path(get, path = "/events", tag = "jobs",
    params(("Last-Event-ID" = Option<String>, Header, description = "The last event's id: replay what changed since")),
    responses((status = 200, description = "Server-sent events: ready, job, flow, job.deleted, flow.deleted, reset, error", content_type = "text/event-stream", body = crate::openapi::ServerSentEvent)))]
pub async fn stream(
    State(s): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
    Query(_): Query<NoQuery>,
) -> ApiResult<Response> {
    let from = headers.get("last-event-id").map(|v| v.to_str().unwrap_or("?").parse::<Cursor>()).transpose()?;
    let subscription = s.events.subscribe(&s.edp, scope, from);
    Ok(Sse::new(events(subscription)).keep_alive(KeepAlive::default()).into_response())
}

fn events(subscription: Subscription) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(Some(subscription), |subscription| async move {
        let mut subscription = subscription?;
        let event = match subscription.next().await? {
            Ok(Item::Change(change)) => {
                Event::default().event(change.event()).id(change.cursor.to_string()).data(change.data.as_str())
            }
            Ok(Item::Ready(cursor)) => Event::default().event("ready").id(cursor.to_string()).data("{}"),
            Ok(Item::Reset(cursor)) => Event::default().event("reset").id(cursor.to_string()).data("{}"),
            Err(e) => {
                tracing::warn!(error = %e, "the event stream failed");
                let data = json!({"error_name": e.name(), "error_message": "the event stream failed; reconnect"});
                return Some((Ok(Event::default().event("error").data(data.to_string())), None));
            }
        };
        Some((Ok(event), Some(subscription)))
    })
}
