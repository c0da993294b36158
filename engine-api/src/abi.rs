//! The stable ABI between edpd and its engine plugins.
//!
//! Everything here is checked by abi_stable when a plugin is loaded: a plugin
//! built against a different layout is refused. Payloads cross as JSON text
//! (the serde types in [`crate::wire`]), so the ABI itself changes rarely:
//! new operations are appended after the last prefix field of [`JobEngine`],
//! or go through [`JobEngine::invoke`] until the next major version.
//!
//! Every engine operation returns an [`FfiFuture`]; the host awaits it with a
//! timeout and dropping it aborts the work inside the plugin. The plugin owns
//! the runtime the work runs on (see [`crate::plugin`]).
//!
//! This file is also compiled, unchanged but for one `cfg`, into a test
//! fixture that must be refused (`tests/fixtures/changed-abi`), so it may only
//! depend on abi_stable and async-ffi.

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RArc, RBox, RResult, RStr, RString},
};
use async_ffi::FfiFuture;

/// Why an engine call failed.
///
/// A transparent `u8` rather than an enum: adding a variant to a `StableAbi`
/// enum breaks every plugin built before, a new constant does not.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Hash)]
pub struct ErrorKind(pub u8);

impl ErrorKind {
    /// The request is wrong and will stay wrong: the user must change it.
    pub const INVALID_INPUT: Self = Self(1);
    /// The engine cannot do this (job type, operation, capability).
    pub const UNSUPPORTED: Self = Self(2);
    /// The engine no longer knows the job.
    pub const NOT_FOUND: Self = Self(3);
    /// Try again later: a network error, a busy backend.
    pub const TRANSIENT: Self = Self(4);
    /// Anything else, including a panic caught in the plugin.
    pub const FATAL: Self = Self(5);
}

/// The error every engine call can return.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct EngineError {
    pub kind: ErrorKind,
    pub message: RString,
    #[cfg(edp_changed_abi_fixture)]
    pub retry_after_ms: u64,
}

pub type EngineResult<T> = RResult<T, EngineError>;

/// What every asynchronous engine operation returns: JSON text or an error.
pub type JsonFuture = FfiFuture<EngineResult<RString>>;

/// One loaded engine. Each method takes the JSON of a request type from
/// [`crate::wire`] and answers with the JSON of its reply type.
#[sabi_trait]
pub trait JobEngine: Send + Sync {
    /// `wire::EngineDescription`. Synchronous: called once, at load.
    fn describe(&self) -> EngineResult<RString>;

    /// `wire::ClusterSpec` → `wire::ClusterCheck`.
    fn check_cluster(&self, cluster: RString) -> JsonFuture;

    /// `wire::JobRequest` → `wire::Validated`. Called before the execution
    /// row is written, so that bad input is refused with nothing stored.
    fn validate(&self, job: RString) -> JsonFuture;

    /// `wire::JobRequest` → `wire::Launched`. Must be idempotent on
    /// `execution_id`: a second call for a job already submitted returns
    /// that job instead of starting another.
    fn run_job(&self, job: RString) -> JsonFuture;

    /// `wire::JobHandle` → `wire::StatusReport`.
    fn get_job_status(&self, handle: RString) -> JsonFuture;

    /// `wire::JobHandle` → `wire::StatusReport`: what the engine knows right
    /// after asking for the kill. The host confirms by re-reading status.
    fn cancel_job(&self, handle: RString) -> JsonFuture;

    /// `wire::LogRequest` → `wire::LogChunk`.
    fn fetch_logs(&self, request: RString) -> JsonFuture;

    /// `wire::JobRequest` → `wire::DryRun`: what would be submitted; nothing runs.
    fn dry_run(&self, job: RString) -> JsonFuture;

    /// `wire::JobHandle` → `wire::StatusReport`. Only when the engine declares
    /// the `suspend` capability.
    fn suspend_job(&self, handle: RString) -> JsonFuture;

    /// `wire::JobHandle` → `wire::StatusReport`. Only with `suspend`.
    fn resume_job(&self, handle: RString) -> JsonFuture;

    /// `wire::JobHandle` → `{}`: forget the job and free what it holds
    /// (work directories, uploaded files). Called after it is terminal.
    fn delete_job(&self, handle: RString) -> JsonFuture;

    /// Operations added after interface 1.0: `op` names one, `payload` is its
    /// JSON. Engines answer `UNSUPPORTED` for what they do not know.
    #[sabi(last_prefix_field)]
    fn invoke(&self, op: RString, payload: RString) -> JsonFuture;
}

/// An engine as the host holds it.
pub type JobEngineBox = JobEngine_TO<'static, RBox<()>>;

/// What the host offers a plugin. Plugins have their own copies of std,
/// tokio and tracing, so logs and hints must come back through here.
#[sabi_trait]
pub trait Host: Send + Sync {
    /// One log line. `level`: 1 error, 2 warn, 3 info, 4 debug, 5 trace.
    fn log(&self, level: u8, target: RStr<'_>, message: RStr<'_>);

    /// The engine saw the status of this execution change (a process ended,
    /// a callback arrived): the host should poll it now instead of waiting.
    #[sabi(last_prefix_field)]
    fn status_hint(&self, execution_id: RStr<'_>);
}

pub type HostArc = Host_TO<'static, RArc<()>>;

/// The root module every plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = EngineMod_Ref)))]
#[sabi(missing_field(panic))]
pub struct EngineMod {
    /// The engine's id: what clusters name in `plugin_name`.
    pub engine_id: extern "C" fn() -> RStr<'static>,

    /// Builds the engine from `wire::EngineSettings` JSON.
    #[sabi(last_prefix_field)]
    pub new: extern "C" fn(settings: RString, host: HostArc) -> EngineResult<JobEngineBox>,
}

impl RootModule for EngineMod_Ref {
    declare_root_module_statics! {EngineMod_Ref}
    const BASE_NAME: &'static str = "edp_engine";
    const NAME: &'static str = "edp_engine";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
