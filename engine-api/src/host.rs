//! The host side: load the engine libraries of a directory as they come
//! ([`Loader`]), and call engines with typed requests, a timeout on every
//! call ([`EngineClient`]).

mod library;
mod loader;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use abi_stable::library::LibraryError;
use abi_stable::std_types::{RResult, RStr, RString};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use library::construct_module;
pub use loader::{Change, Fingerprint, Loader, LoaderConfig, RestartNeeded, SettingsFor};

use crate::abi::{ErrorKind, Host, JobEngineBox, JsonFuture};
use crate::wire::{
    ClusterCheck, ClusterSpec, DryRun, EngineDescription, FIND_JOB_OP, FoundJob, JobHandle, JobRequest, Launched,
    LogChunk, LogRequest, PLACEMENT_OP, Placement, PlacementAnswer, StatusReport, Validated,
};

/// The histogram every engine call is timed into, labelled by `engine` and
/// `operation` (`invoke` calls by their op name), through the `metrics`
/// facade: the service installs the recorder that exports it.
pub const ENGINE_CALL_SECONDS: &str = "edp_engine_call_duration_seconds";

/// Operation names in errors are static; an `invoke` op is named `invoke`.
fn static_op(op: &str) -> &'static str {
    const KNOWN: [&str; 11] = [
        "check_cluster",
        "validate",
        "run_job",
        "get_job_status",
        "cancel_job",
        "fetch_logs",
        "dry_run",
        "suspend_job",
        "resume_job",
        "delete_job",
        "placement",
    ];
    KNOWN.into_iter().find(|k| *k == op).unwrap_or("invoke")
}

/// What the service does with what engines tell it.
pub trait HostHooks: Send + Sync + 'static {
    /// An engine saw a job's status change.
    fn status_hint(&self, engine_id: &str, execution_id: &str);
}

/// A loaded engine.
#[derive(Clone)]
pub struct LoadedEngine {
    pub file: PathBuf,
    pub description: EngineDescription,
    pub client: EngineClient,
}

/// A library that was not loaded, and why, in one line.
#[derive(Clone, Debug)]
pub struct Refused {
    pub file: PathBuf,
    pub reason: String,
}

/// abi_stable's errors dump both full type layouts (tens of KB). Users need
/// the gist: which check failed, and the `Error:` lines of a layout mismatch.
pub fn summarize_load_error(err: &LibraryError) -> String {
    let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    match err {
        LibraryError::OpenError { err, .. } => format!("cannot load library: {err}"),
        LibraryError::GetSymbolError { .. } => {
            "not an edp engine: the library exports no abi_stable root module".to_string()
        }
        LibraryError::InvalidAbiHeader(_) => "built with an incompatible abi_stable version".to_string(),
        LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => {
            format!("built against engine interface {actual_version}, this edpd provides {expected_version}")
        }
        LibraryError::RootModule { err, .. } => {
            format!("root module failed to initialise: {}", one_line(err.to_string()))
        }
        LibraryError::AbiInstability(e) => {
            let text = e.to_string();
            let mut gist = Vec::new();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            while let Some(line) = lines.next() {
                if let Some(rest) = line.strip_prefix("Error:") {
                    let mut block = vec![rest.trim().to_string()];
                    // The lines right after an `Error:` say what was expected and found.
                    for follow in lines.by_ref().take(4) {
                        if follow.starts_with("Expected")
                            || follow.starts_with("Found")
                            || follow.starts_with("field_name")
                        {
                            block.push(follow.to_string());
                        }
                    }
                    gist.push(block.join(" "));
                }
            }
            gist.dedup();
            if gist.is_empty() {
                format!("incompatible engine interface: {}", truncate(&one_line(text), 300))
            } else {
                format!(
                    "incompatible engine interface (built against another edp-engine-api): {}",
                    truncate(&gist.join("; "), 600)
                )
            }
        }
        other => truncate(&one_line(other.to_string()), 300),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

struct HostImpl {
    engine_id: String,
    hooks: Arc<dyn HostHooks>,
}

impl Host for HostImpl {
    fn log(&self, level: u8, target: RStr<'_>, message: RStr<'_>) {
        let (engine, target, message) = (self.engine_id.as_str(), target.as_str(), message.as_str());
        match level {
            1 => tracing::error!(target: crate::HOST_LOG_TARGET, engine, from = target, "{message}"),
            2 => tracing::warn!(target: crate::HOST_LOG_TARGET, engine, from = target, "{message}"),
            3 => tracing::info!(target: crate::HOST_LOG_TARGET, engine, from = target, "{message}"),
            4 => tracing::debug!(target: crate::HOST_LOG_TARGET, engine, from = target, "{message}"),
            _ => tracing::trace!(target: crate::HOST_LOG_TARGET, engine, from = target, "{message}"),
        }
    }

    fn status_hint(&self, execution_id: RStr<'_>) {
        self.hooks.status_hint(&self.engine_id, execution_id.as_str());
    }
}

/// Why a call to an engine did not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The engine answered with an error.
    #[error("{message}")]
    Engine { kind: ErrorKind, message: String },
    #[error("engine `{engine}` did not answer {op} within {after:?}")]
    Timeout { engine: String, op: &'static str, after: Duration },
    #[error("engine `{engine}` answered {op} with malformed JSON: {detail}")]
    BadReply { engine: String, op: &'static str, detail: String },
}

impl CallError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Engine { kind, .. } => *kind,
            Self::Timeout { .. } => ErrorKind::TRANSIENT,
            Self::BadReply { .. } => ErrorKind::FATAL,
        }
    }

    /// Worth trying again later: the engine or its backend was busy or away.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::TRANSIENT
    }
}

/// A typed, timed handle on one engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineClient {
    id: Arc<str>,
    inner: Arc<JobEngineBox>,
}

impl fmt::Debug for EngineClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineClient").field("id", &self.id).finish()
    }
}

impl EngineClient {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub async fn check_cluster(&self, cluster: &ClusterSpec, timeout: Duration) -> Result<ClusterCheck, CallError> {
        self.call("check_cluster", cluster, timeout, |e, p| e.check_cluster(p)).await
    }

    pub async fn validate(&self, job: &JobRequest, timeout: Duration) -> Result<Validated, CallError> {
        self.call("validate", job, timeout, |e, p| e.validate(p)).await
    }

    pub async fn run_job(&self, job: &JobRequest, timeout: Duration) -> Result<Launched, CallError> {
        self.call("run_job", job, timeout, |e, p| e.run_job(p)).await
    }

    pub async fn get_job_status(&self, handle: &JobHandle, timeout: Duration) -> Result<StatusReport, CallError> {
        self.call("get_job_status", handle, timeout, |e, p| e.get_job_status(p)).await
    }

    pub async fn cancel_job(&self, handle: &JobHandle, timeout: Duration) -> Result<StatusReport, CallError> {
        self.call("cancel_job", handle, timeout, |e, p| e.cancel_job(p)).await
    }

    pub async fn fetch_logs(&self, request: &LogRequest, timeout: Duration) -> Result<LogChunk, CallError> {
        self.call("fetch_logs", request, timeout, |e, p| e.fetch_logs(p)).await
    }

    pub async fn dry_run(&self, job: &JobRequest, timeout: Duration) -> Result<DryRun, CallError> {
        self.call("dry_run", job, timeout, |e, p| e.dry_run(p)).await
    }

    pub async fn suspend_job(&self, handle: &JobHandle, timeout: Duration) -> Result<StatusReport, CallError> {
        self.call("suspend_job", handle, timeout, |e, p| e.suspend_job(p)).await
    }

    pub async fn resume_job(&self, handle: &JobHandle, timeout: Duration) -> Result<StatusReport, CallError> {
        self.call("resume_job", handle, timeout, |e, p| e.resume_job(p)).await
    }

    pub async fn delete_job(&self, handle: &JobHandle, timeout: Duration) -> Result<(), CallError> {
        let _: serde_json::Value = self.call("delete_job", handle, timeout, |e, p| e.delete_job(p)).await?;
        Ok(())
    }

    /// Where a cluster's jobs would run (`wire::PLACEMENT_OP`). Engines built
    /// before the operation existed answer `UNSUPPORTED`: they are taken to
    /// run jobs elsewhere, as every engine of that time but `local` and
    /// `spark` did.
    pub async fn placement(&self, cluster: &ClusterSpec, timeout: Duration) -> Result<Placement, CallError> {
        let payload = serde_json::to_value(cluster).expect("wire types always serialise");
        match self.invoke(PLACEMENT_OP, &payload, timeout).await {
            Ok(answer) => serde_json::from_value::<PlacementAnswer>(answer).map(|a| a.placement).map_err(|e| {
                CallError::BadReply { engine: self.id.to_string(), op: "placement", detail: e.to_string() }
            }),
            Err(CallError::Engine { kind, .. }) if kind == ErrorKind::UNSUPPORTED => Ok(Placement::Remote),
            Err(e) => Err(e),
        }
    }

    /// The job this engine has for `job`'s submission tag, if any
    /// (`wire::FIND_JOB_OP`); nothing is started. `Err` with `UNSUPPORTED`
    /// from an engine that cannot tell.
    pub async fn find_job(&self, job: &JobRequest, timeout: Duration) -> Result<Option<Launched>, CallError> {
        let payload = serde_json::to_value(job).expect("wire types always serialise");
        let answer = self.invoke(FIND_JOB_OP, &payload, timeout).await?;
        serde_json::from_value::<FoundJob>(answer).map(|found| found.launched).map_err(|e| CallError::BadReply {
            engine: self.id.to_string(),
            op: "find_job",
            detail: e.to_string(),
        })
    }

    /// An operation added after interface 1.0 (see `JobEngine::invoke`).
    pub async fn invoke(
        &self,
        op: &str,
        payload: &serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, CallError> {
        let op_name = RString::from(op);
        self.call(op, payload, timeout, move |e, p| e.invoke(op_name, p)).await
    }

    async fn call<Req, Resp>(
        &self,
        op: &str,
        request: &Req,
        timeout: Duration,
        method: impl FnOnce(&JobEngineBox, RString) -> JsonFuture,
    ) -> Result<Resp, CallError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let payload = serde_json::to_string(request).expect("wire types always serialise");
        // The SDK's methods only spawn onto the plugin's runtime and return
        // (or answer from memory: `Engine::known_status`); the work happens
        // while we await, under the timeout.
        let future = method(&self.inner, payload.into());
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(timeout, future).await;
        metrics::histogram!(ENGINE_CALL_SECONDS, "engine" => self.id.to_string(), "operation" => op.to_string())
            .record(started.elapsed().as_secs_f64());
        let op = static_op(op);
        match answer {
            Err(_) => Err(CallError::Timeout { engine: self.id.to_string(), op, after: timeout }),
            Ok(RResult::RErr(e)) => Err(CallError::Engine { kind: e.kind, message: e.message.into_string() }),
            Ok(RResult::ROk(json)) => serde_json::from_str(&json).map_err(|e| CallError::BadReply {
                engine: self.id.to_string(),
                op,
                detail: e.to_string(),
            }),
        }
    }
}
