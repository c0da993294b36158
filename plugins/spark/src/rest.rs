//! HTTP to a standalone master: its REST submission server
//! (`/v1/submissions/create|status|kill|readyz`), its web UI's `/json/`, and
//! the workers' `/log/` pages, where drivers' output is.
//!
//! What a failure means for edp: no answer, a timeout or a 5xx is TRANSIENT
//! (the job keeps its state; the call is retried). A 400 is INVALID_INPUT
//! with the server's message. The REST server answers most refusals with
//! HTTP 200 and `"success": false` (pitfall P8): each operation says what
//! that means for it.

use std::sync::OnceLock;

use edp_engine_api::plugin::{Error, Result, with_causes};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use crate::cluster::ClusterConfig;
use crate::settings::Settings;

/// One client for the engine's life, built inside an engine call (so on
/// the plugin's runtime).
pub struct Http {
    client: OnceLock<reqwest::Client>,
    settings: Settings,
}

impl Http {
    pub fn new(settings: Settings) -> Self {
        Self { client: OnceLock::new(), settings }
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(self.settings.connect_timeout)
                .timeout(self.settings.request_timeout)
                .user_agent(concat!("edp-engine-spark/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
    }

    /// The master of `cluster`, as far as its configs name it.
    pub fn master<'a>(&'a self, cluster: &'a ClusterConfig) -> Result<Master<'a>> {
        let rest = cluster.rest_base().ok_or_else(|| Error::invalid_input("the cluster names no REST server"))?;
        Ok(Master { http: self.client(), rest, token: cluster.rest_auth_token.as_deref(), ui: cluster.master_ui() })
    }

    /// A worker's log page: `stream` of `driver_id`, `len` bytes from
    /// `offset` (the last `len` bytes when `offset` is None).
    pub async fn worker_log(
        &self,
        worker_ui: &str,
        driver_id: &str,
        stream: &str,
        offset: Option<u64>,
        len: u64,
    ) -> Result<Option<LogPage>> {
        let mut query = vec![("driverId", driver_id.to_owned()), ("logType", stream.to_owned())];
        if let Some(offset) = offset {
            query.push(("offset", offset.to_string()));
        }
        query.push(("byteLength", len.to_string()));
        let url = format!("{}/log/", worker_ui.trim_end_matches('/'));
        let what = format!("worker log {stream} of {driver_id}");
        let response = send(self.client().get(&url).query(&query), &what).await?;
        if !response.status().is_success() {
            return Err(status_error(response.status(), &what, ""));
        }
        let bytes = response.bytes().await.map_err(|e| Error::transient(format!("{what}: {e}")))?;
        Ok(LogPage::parse(&bytes))
    }
}

pub struct Master<'a> {
    http: &'a reqwest::Client,
    rest: String,
    token: Option<&'a str>,
    ui: Option<String>,
}

/// A `SubmissionStatusResponse` that knew the driver.
#[derive(Debug, Clone)]
pub struct DriverStatus {
    pub state: String,
    pub message: Option<String>,
    pub worker_id: Option<String>,
    pub worker_host_port: Option<String>,
}

pub enum Kill {
    Submitted,
    /// `success: false`: "has already finished or does not exist".
    Refused(String),
}

/// A driver as the master's `/json/` lists it.
#[derive(Debug, Clone)]
pub struct ListedDriver {
    pub id: String,
    pub start_ms: u64,
    pub worker_id: Option<String>,
}

impl Master<'_> {
    pub fn rest_url(&self) -> &str {
        &self.rest
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn call(&self, request: RequestBuilder, what: &str) -> Result<Value> {
        let response = send(self.authorized(request), what).await?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Error::transient(format!("{what}: {e}")))?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(first_line))
                .unwrap_or_else(|| first_line(&text));
            return Err(status_error(status, what, &message));
        }
        serde_json::from_str(&text)
            .map_err(|e| Error::fatal(format!("{what}: the answer is not JSON ({e}): {}", first_line(&text))))
    }

    /// `GET /v1/submissions/readyz` (Spark 4); a Spark 3.5 server, which
    /// lacks it, is probed with the status of an unknown id instead.
    pub async fn readyz(&self) -> Result<Value> {
        let url = format!("{}/v1/submissions/readyz", self.rest);
        match self.call(self.http.get(&url), "REST readyz").await {
            Err(e) if e.message.contains("HTTP 404") || e.message.contains("HTTP 405") => {
                let probe = format!("{}/v1/submissions/status/edp-probe", self.rest);
                self.call(self.http.get(&probe), "REST status probe").await
            }
            answer => answer,
        }
    }

    /// `POST /v1/submissions/create`: the driver id.
    pub async fn create(&self, body: &Value) -> Result<String> {
        let url = format!("{}/v1/submissions/create", self.rest);
        let answer = self.call(self.http.post(&url).json(body), "REST create").await?;
        if answer.get("success").and_then(Value::as_bool) != Some(true) {
            let message = answer.get("message").and_then(Value::as_str).unwrap_or("no message");
            // A standby master refuses until it is elected.
            let error = if message.contains("ALIVE") { Error::transient } else { Error::fatal };
            return Err(error(format!("the master refused the submission: {}", first_line(message))));
        }
        answer
            .get("submissionId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::fatal(format!("the master accepted the submission but named no driver: {answer}")))
    }

    /// `GET /v1/submissions/status/<id>`; NOT_FOUND when the master does not
    /// know the driver (never did, restarted, or `/clear`ed it).
    pub async fn status(&self, driver_id: &str) -> Result<DriverStatus> {
        let url = format!("{}/v1/submissions/status/{driver_id}", self.rest);
        let answer = self.call(self.http.get(&url), "REST status").await?;
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        match (answer.get("success").and_then(Value::as_bool), text("driverState")) {
            (Some(true), Some(state)) => Ok(DriverStatus {
                state,
                message: text("message"),
                worker_id: text("workerId"),
                worker_host_port: text("workerHostPort"),
            }),
            _ => Err(Error::not_found(format!(
                "the master at {} does not know driver {driver_id}{}",
                self.rest,
                text("message").map(|m| format!(": {}", first_line(&m))).unwrap_or_default()
            ))),
        }
    }

    /// `POST /v1/submissions/kill/<id>`.
    pub async fn kill(&self, driver_id: &str) -> Result<Kill> {
        let url = format!("{}/v1/submissions/kill/{driver_id}", self.rest);
        let answer = self.call(self.http.post(&url), "REST kill").await?;
        if answer.get("success").and_then(Value::as_bool) == Some(true) {
            Ok(Kill::Submitted)
        } else {
            let message = answer.get("message").and_then(Value::as_str).unwrap_or("no message");
            Ok(Kill::Refused(message.to_owned()))
        }
    }

    /// The master's web UI `/json/`.
    async fn state(&self) -> Result<Value> {
        let ui = self.ui.as_deref().ok_or_else(|| Error::invalid_input("the cluster names no master web UI"))?;
        let url = format!("{ui}/json/");
        let response = send(self.http.get(&url), "master /json/").await?;
        if !response.status().is_success() {
            return Err(status_error(response.status(), "master /json/", ""));
        }
        response.json().await.map_err(|e| Error::transient(format!("master /json/: {e}")))
    }

    /// The web UI (`http://host:port`) of worker `worker_id`.
    pub async fn worker_ui(&self, worker_id: &str) -> Result<Option<String>> {
        let state = self.state().await?;
        Ok(state
            .get("workers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|w| w.get("id").and_then(Value::as_str) == Some(worker_id))
            .and_then(|w| w.get("webuiaddress").and_then(Value::as_str))
            .map(|s| s.trim_end_matches('/').to_owned()))
    }

    /// Every driver the master lists, with the web UI of each worker.
    pub async fn drivers(&self) -> Result<(Vec<ListedDriver>, Vec<(String, String)>)> {
        let state = self.state().await?;
        let mut drivers = Vec::new();
        for key in ["activedrivers", "completeddrivers"] {
            for d in state.get(key).and_then(Value::as_array).into_iter().flatten() {
                let Some(id) = d.get("id").and_then(Value::as_str) else { continue };
                // A string in drivers (a number in apps).
                let start_ms = match d.get("starttime") {
                    Some(Value::String(s)) => s.parse().unwrap_or(0),
                    Some(v) => v.as_u64().unwrap_or(0),
                    None => 0,
                };
                let worker_id = d.get("worker").and_then(Value::as_str).filter(|w| !w.is_empty() && *w != "None");
                drivers.push(ListedDriver { id: id.to_owned(), start_ms, worker_id: worker_id.map(str::to_owned) });
            }
        }
        let workers = state
            .get("workers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| {
                Some((
                    w.get("id")?.as_str()?.to_owned(),
                    w.get("webuiaddress")?.as_str()?.trim_end_matches('/').to_owned(),
                ))
            })
            .collect();
        Ok((drivers, workers))
    }
}

/// One answer of a worker's `/log/` page: its first line says which bytes
/// of which file follow (`==== Bytes 0-22 of 22 of /work/driver-.../stdout ====`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    pub start: u64,
    pub end: u64,
    pub total: u64,
    pub data: Vec<u8>,
}

impl LogPage {
    /// `None` for the page of a driver the worker has no directory for
    /// (HTTP 200 all the same, pitfall P10).
    pub fn parse(body: &[u8]) -> Option<Self> {
        let newline = body.iter().position(|b| *b == b'\n')?;
        let header = std::str::from_utf8(&body[..newline]).ok()?;
        let rest = header.strip_prefix("==== Bytes ")?;
        let (range, rest) = rest.split_once(" of ")?;
        let (total, _) = rest.split_once(" of ")?;
        let (start, end) = range.split_once('-')?;
        Some(Self {
            start: start.parse().ok()?,
            end: end.parse().ok()?,
            total: total.parse().ok()?,
            data: body[newline + 1..].to_vec(),
        })
    }
}

async fn send(request: RequestBuilder, what: &str) -> Result<reqwest::Response> {
    request.send().await.map_err(|e| Error::transient(format!("{what}: {}", describe(&e))))
}

fn status_error(status: StatusCode, what: &str, message: &str) -> Error {
    let text = format!(
        "{what}: HTTP {}{}",
        status.as_u16(),
        if message.is_empty() { String::new() } else { format!(": {message}") }
    );
    match status.as_u16() {
        400 => Error::invalid_input(text),
        401 | 403 => Error::fatal(format!("{text} (is rest_auth_token right?)")),
        404 | 405 | 468 => Error::fatal(text),
        _ => Error::transient(text),
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "no answer"
    };
    format!("{kind} ({})", with_causes(e))
}

fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    line.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::LogPage;

    #[test]
    fn log_pages() {
        let page =
            LogPage::parse(b"==== Bytes 0-22 of 22 of /w/driver-1/stdout ====\nPi is roughly 3.14433\n").unwrap();
        assert_eq!((page.start, page.end, page.total), (0, 22, 22));
        assert_eq!(page.data, b"Pi is roughly 3.14433\n");
        assert!(LogPage::parse(b"Error: invalid log directory /w/driver-nonexistent/\n").is_none());
    }
}
