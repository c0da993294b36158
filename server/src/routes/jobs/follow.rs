//! `GET /v2/jobs/{id}/logs?follow=true`: the log as server-sent events.
//!
//! - `event: log`, `data: {"stream", "offset", "next_offset", "data"}` for
//!   each chunk, as soon as the engine has it;
//! - `event: end`, `data: {"status", "return_code"}` once the job is
//!   finished and its log read to the end;
//! - `event: error`, `data: {"error_name", "error_message"}` if reading
//!   fails, then the stream ends.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use edp_core::{Edp, Scope, manager};
use futures::Stream;
use serde_json::json;

/// How long to wait before asking again when there was nothing new.
const IDLE: Duration = Duration::from_millis(250);

enum Step {
    Reading { offset: u64 },
    Done,
}

pub fn stream(
    edp: Edp,
    scope: Scope,
    id: String,
    stream: Option<String>,
    offset: u64,
    limit: u64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = futures::stream::unfold(Step::Reading { offset }, move |step| {
        let (edp, scope, id, stream) = (edp.clone(), scope.clone(), id.clone(), stream.clone());
        async move {
            let Step::Reading { offset } = step else { return None };
            loop {
                // Read the status before the log: if the job was finished
                // then, an empty read afterwards really is the end.
                let job = match manager::get(&edp, &scope, &id, false).await {
                    Ok(job) => job,
                    Err(e) => return Some((error_event(&e), Step::Done)),
                };
                let finished = edp_core::status::Status::parse(&job.status).is_some_and(|s| s.is_terminal());
                let chunk = match manager::logs(&edp, &scope, &id, stream.clone(), offset, limit).await {
                    Ok(chunk) => chunk,
                    Err(e) => return Some((error_event(&e), Step::Done)),
                };
                if !chunk.data.is_empty() {
                    let data = json!({"stream": chunk.stream, "offset": chunk.offset, "next_offset": chunk.next_offset, "data": chunk.data});
                    let event = Event::default().event("log").data(data.to_string());
                    return Some((Ok(event), Step::Reading { offset: chunk.next_offset }));
                }
                // Nothing new, and the status was final before this read:
                // the log is complete.
                if finished {
                    let data = json!({"status": job.status, "return_code": job.return_code});
                    return Some((Ok(Event::default().event("end").data(data.to_string())), Step::Done));
                }
                tokio::time::sleep(IDLE).await;
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn error_event(e: &edp_core::Error) -> Result<Event, Infallible> {
    let data = json!({"error_name": e.name(), "error_message": e.to_string()});
    Ok(Event::default().event("error").data(data.to_string()))
}
