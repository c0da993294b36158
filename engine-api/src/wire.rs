//! The JSON payloads that cross the ABI. Host and plugins share these types;
//! adding an optional field (with `#[serde(default)]`) keeps both sides
//! compatible, so this is where the contract grows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSON object, as Sahara's `configs` and `params`.
pub type Object = serde_json::Map<String, Value>;

/// Sahara's execution statuses, as far as an engine reports them. The job
/// manager adds its own transitional ones (`TOBEKILLED`).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Pending,
    Prep,
    Running,
    Suspended,
    Succeeded,
    Failed,
    Killed,
    #[serde(rename = "DONEWITHERROR")]
    DoneWithError,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Killed | Self::DoneWithError)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Prep => "PREP",
            Self::Running => "RUNNING",
            Self::Suspended => "SUSPENDED",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
            Self::DoneWithError => "DONEWITHERROR",
        }
    }
}

/// What the host passes to a plugin's constructor.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct EngineSettings {
    /// The plugin's own file, so it can find files shipped beside it.
    pub plugin_path: PathBuf,
    /// A directory that belongs to this engine, kept across restarts.
    pub data_dir: PathBuf,
    /// `[engines.<id>]` from the service's configuration.
    #[serde(default)]
    pub settings: Object,
}

/// What an engine is and can do, answered once at load.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EngineDescription {
    pub id: String,
    pub version: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Sahara job type names: `Shell`, `MapReduce.Streaming`, `Spark`, ...
    pub job_types: Vec<String>,
    /// JSON Schema of the cluster's `cluster_configs`. Properties marked
    /// `"writeOnly": true` are secrets and are never returned by the API.
    pub cluster_config_schema: Value,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub polling: PollingHints,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// suspend_job / resume_job work.
    #[serde(default)]
    pub suspend: bool,
    /// fetch_logs answers.
    #[serde(default)]
    pub logs: bool,
    /// dry_run answers.
    #[serde(default)]
    pub dry_run: bool,
    /// The engine wants a callback URL in `JobRequest::callback`.
    #[serde(default)]
    pub callbacks: bool,
    /// Status reports may carry `progress`.
    #[serde(default)]
    pub progress: bool,
    /// The engine tells the host (`Host::status_hint`) when a job on a host
    /// cluster ends, so the host polls such jobs only rarely otherwise
    /// (a report says `Watch::Polled` of a job it cannot watch).
    #[serde(default)]
    pub status_hints: bool,
}

/// How often the host should poll a running job: the first poll after
/// `initial_ms`, then doubling up to `max_ms`. Status hints and callbacks
/// make a poll due at once, whatever the interval.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollingHints {
    pub initial_ms: u64,
    pub max_ms: u64,
}

impl Default for PollingHints {
    fn default() -> Self {
        Self { initial_ms: 2_000, max_ms: 30_000 }
    }
}

/// A registered cluster: which engine, and how to reach it.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ClusterSpec {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub configs: Object,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ClusterCheck {
    /// Whether the engine can run jobs on the cluster now.
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the engine learnt (versions, modes), shown to users.
    #[serde(default)]
    pub info: Object,
}

/// Where a cluster's jobs run: the answer to the `placement` operation
/// (`Engine::placement` in the SDK), asked before a cluster is checked.
/// An engine that starts processes on the edpd host for a cluster must
/// say `Host`: the host is the operator's, so such clusters serve only the
/// projects the operator allows, and only admins may register them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// On another machine (an Oozie server, a Spark master, YARN).
    #[default]
    Remote,
    /// As processes on the machine edpd runs on, as edpd's user.
    Host,
}

/// The `invoke` operation that asks an engine for a cluster's placement:
/// payload a `ClusterSpec`, answer a `PlacementAnswer`.
pub const PLACEMENT_OP: &str = "placement";

/// The `invoke` operation that asks an engine whether it has a job for a
/// submission tag: payload the `JobRequest` `run_job` was (or would have
/// been) given, answer a `FoundJob`. Asked before a cancel of a job whose
/// launch may have reached the engine without its answer being recorded
/// (edpd crashed, the call timed out), so nothing it started runs on.
/// Must not start anything.
pub const FIND_JOB_OP: &str = "find_job";

/// The `find_job` operation's answer: the job, as `run_job` would have
/// answered, or `None` when the engine has nothing for this tag.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FoundJob {
    #[serde(default)]
    pub launched: Option<Launched>,
}

/// The `placement` operation's answer.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
pub struct PlacementAnswer {
    pub placement: Placement,
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Remote => "remote",
            Self::Host => "host",
        }
    }
}

/// A job binary as the engine sees it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Binary {
    pub id: String,
    /// A plain file name: the host has checked it holds no path separator.
    pub name: String,
    pub url: String,
    /// A local file holding the bytes, when the host could provide one
    /// (internal binaries are staged there; `file://` binaries are their path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct DataSource {
    pub id: String,
    pub name: String,
    /// `file`, `hdfs`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL with per-execution placeholders already expanded.
    pub url: String,
}

/// Where an engine that supports callbacks tells the host about a change.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Callback {
    /// Absolute URL; the engine may append query parameters.
    pub url: String,
}

/// One job to validate, dry-run or launch.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct JobRequest {
    /// The execution id: the submission tag that makes `run_job` idempotent.
    pub execution_id: String,
    pub job_type: String,
    pub template_name: String,
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub mains: Vec<Binary>,
    #[serde(default)]
    pub libs: Vec<Binary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<DataSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<DataSource>,
    #[serde(default)]
    pub configs: Object,
    #[serde(default)]
    pub params: Object,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Callback>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Validated {
    /// Non-fatal remarks, shown to the user.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The answer to `run_job`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Launched {
    /// The engine's own id for the job (Oozie id, pid, driver id).
    pub engine_job_id: String,
    pub status: JobStatus,
    /// What the engine must get back in every later `JobHandle::extra`.
    #[serde(default)]
    pub extra: Value,
    /// Shown to users in the execution's `info`.
    #[serde(default)]
    pub info: Object,
}

/// A launched job, as the engine is asked about it later. Engines keep no
/// state between calls: all they need is here.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct JobHandle {
    pub execution_id: String,
    pub engine_job_id: String,
    pub job_type: String,
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub extra: Value,
    /// A user asked for this job to be killed (the execution is being
    /// cancelled), so an end by kill is KILLED, not FAILED.
    #[serde(default)]
    pub cancel_requested: bool,
}

/// What an engine knows of a job now.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct StatusReport {
    pub status: JobStatus,
    /// Exit code, when the engine knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_code: Option<i32>,
    /// Raw engine payload and `reason` for failures, shown in `info`.
    #[serde(default)]
    pub info: Object,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// A replacement for the handle's `extra`, when the engine learnt more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
    /// Whether the engine will tell the host when this job changes.
    #[serde(default, skip_serializing_if = "Watch::is_as_declared")]
    pub watch: Watch,
}

impl StatusReport {
    pub fn new(status: JobStatus) -> Self {
        Self { status, return_code: None, info: Object::new(), progress: None, extra: None, watch: Watch::AsDeclared }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.info.insert("reason".into(), Value::String(reason.into()));
        self
    }
}

/// Whether a job's changes are told to the host (`Host::status_hint`), as
/// far as one report knows. An engine with the `status_hints` capability
/// watches its jobs as a rule, and the host then polls them only rarely; a
/// job it cannot watch (spark-submit in a standalone master's cluster mode
/// only submits the driver, which then runs elsewhere) is reported
/// `Polled`, and the host polls it at the engine's rhythm (`PollingHints`).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Watch {
    /// As the engine's `Capabilities::status_hints` says.
    #[default]
    AsDeclared,
    /// Not watched: its end is learnt by polling only.
    Polled,
}

impl Watch {
    fn is_as_declared(&self) -> bool {
        *self == Watch::AsDeclared
    }
}

/// Progress by stage, e.g. `maps 3/8`, `reduces 0/2`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub stages: Vec<Stage>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    pub done: u64,
    pub total: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LogRequest {
    pub handle: JobHandle,
    /// Which stream; `None` means the engine's first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Byte offset into the stream.
    pub offset: u64,
    /// At most this many bytes.
    pub limit: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LogChunk {
    pub stream: String,
    /// Every stream the job has, for clients to offer.
    pub streams: Vec<String>,
    pub offset: u64,
    /// Where the next read starts. Equal to `offset + data.len()` for text
    /// cut at a character boundary.
    pub next_offset: u64,
    pub data: String,
    /// Nothing more will ever be written to this stream.
    pub complete: bool,
}

/// What a launch would submit, for users to read.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct DryRun {
    /// What `request` holds: `argv`, `workflow`, `spark-submit`, `rest`, ...
    pub kind: String,
    /// The exact request, in the engine's own terms.
    pub request: Value,
    /// Files that would be written or uploaded, name → where.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_says_watch_only_of_a_job_the_engine_does_not_watch() {
        // A plugin built before `watch` existed sends none: as declared.
        let old: StatusReport = serde_json::from_str(r#"{"status": "RUNNING"}"#).unwrap();
        assert_eq!(old.watch, Watch::AsDeclared);
        assert_eq!(serde_json::to_value(&old).unwrap(), serde_json::json!({"status": "RUNNING", "info": {}}));
        let polled = StatusReport { watch: Watch::Polled, ..StatusReport::new(JobStatus::Running) };
        let sent = serde_json::to_value(&polled).unwrap();
        assert_eq!(sent["watch"], "polled");
        assert_eq!(serde_json::from_value::<StatusReport>(sent).unwrap().watch, Watch::Polled);
    }
}
