//! The SDK for plugin authors: implement [`Engine`] with plain Rust types and
//! `async fn`s, then `edp_engine_api::export_engine!(MyEngine);`.
//!
//! The SDK owns what a plugin must never get wrong: every entry point catches
//! panics (an unguarded one would take edpd down), every call runs on the
//! plugin's own tokio runtime (the host's is invisible from a plugin), a
//! dropped call aborts its task, and `tracing` events go to the host's log.
//! The one exception is opt-in: an engine may answer `validate` and
//! `get_job_status` from memory on the host's thread
//! ([`Engine::validate_now`], [`Engine::known_status`]), with no task at all.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString};
use async_ffi::FutureExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::runtime::Runtime;

pub mod testing;

use crate::abi::{
    EngineError, EngineMod, EngineMod_Ref, EngineResult, ErrorKind, HostArc, JobEngine, JobEngine_TO, JobEngineBox,
    JsonFuture,
};
use crate::wire::{
    ClusterCheck, ClusterSpec, DryRun, EngineDescription, EngineSettings, FIND_JOB_OP, FoundJob, JobHandle, JobRequest,
    Launched, LogChunk, LogRequest, PLACEMENT_OP, Placement, PlacementAnswer, StatusReport, Validated,
};

/// An engine error as plugin code builds it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INVALID_INPUT, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UNSUPPORTED, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NOT_FOUND, message)
    }
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TRANSIENT, message)
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::FATAL, message)
    }
}

impl From<Error> for EngineError {
    fn from(e: Error) -> Self {
        EngineError::new(e.kind, e.message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs file system work or process spawning on the blocking pool, off the
/// plugin runtime's two workers.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::fatal(format!("engine task failed: {e}")))?
}

/// An error with its causes, `outer: cause: root cause`: many errors'
/// Display (reqwest's, io's wrapped ones) leaves out the cause, which says
/// what happened.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// What an engine gets at construction.
pub struct EngineContext {
    pub settings: EngineSettings,
    pub host: HostHandle,
}

/// The host, as plugin code talks to it. Logs go through `tracing`.
#[derive(Clone)]
pub struct HostHandle(Arc<HostArc>);

impl HostHandle {
    /// Wraps what the host passed to the constructor. Public so that engine
    /// tests can drive an engine in-process with a host of their own.
    pub fn new(host: HostArc) -> Self {
        Self(Arc::new(host))
    }

    /// Tell the host this execution's status changed, so it polls it now.
    pub fn status_hint(&self, execution_id: &str) {
        self.0.status_hint(RStr::from_str(execution_id));
    }

    fn log(&self, level: u8, target: &str, message: &str) {
        self.0.log(level, RStr::from_str(target), RStr::from_str(message));
    }
}

/// A job engine. Only the four operations every engine needs are required;
/// the rest answer `UNSUPPORTED` until implemented.
pub trait Engine: Send + Sync + Sized + 'static {
    /// The id clusters name in `plugin_name`.
    const ID: &'static str;

    fn new(ctx: EngineContext) -> Result<Self>;

    fn describe(&self) -> EngineDescription;

    fn check_cluster(&self, cluster: ClusterSpec) -> impl Future<Output = Result<ClusterCheck>> + Send;

    fn validate(&self, job: JobRequest) -> impl Future<Output = Result<Validated>> + Send;

    /// The answer to `validate` when it takes nothing but the request (no
    /// file, no backend): then `validate` answers it at once, on the host's
    /// thread, without a task on the plugin's runtime. `None` (the default)
    /// runs `validate`. The same rules as [`Engine::known_status`].
    fn validate_now(&self, _job: &JobRequest) -> Option<Result<Validated>> {
        None
    }

    /// Idempotent on `job.execution_id`: see [`crate::abi::JobEngine::run_job`].
    fn run_job(&self, job: JobRequest) -> impl Future<Output = Result<Launched>> + Send;

    fn get_job_status(&self, handle: JobHandle) -> impl Future<Output = Result<StatusReport>> + Send;

    /// The job's status when the engine already holds it in memory (an end
    /// it was told with everything a report says): then `get_job_status`
    /// answers it at once, on the host's thread, without a task on the
    /// plugin's runtime. `None` (the default) runs `get_job_status`.
    ///
    /// Called on the host's thread: it must not block, wait or do I/O,
    /// only look in memory. A panic here is caught like any other.
    fn known_status(&self, _handle: &JobHandle) -> Option<StatusReport> {
        None
    }

    fn cancel_job(&self, handle: JobHandle) -> impl Future<Output = Result<StatusReport>> + Send;

    fn fetch_logs(&self, _request: LogRequest) -> impl Future<Output = Result<LogChunk>> + Send {
        async { Err(Error::unsupported(format!("engine `{}` keeps no logs", Self::ID))) }
    }

    fn dry_run(&self, _job: JobRequest) -> impl Future<Output = Result<DryRun>> + Send {
        async { Err(Error::unsupported(format!("engine `{}` has no dry run", Self::ID))) }
    }

    fn suspend_job(&self, _handle: JobHandle) -> impl Future<Output = Result<StatusReport>> + Send {
        async { Err(Error::unsupported(format!("engine `{}` cannot suspend jobs", Self::ID))) }
    }

    fn resume_job(&self, _handle: JobHandle) -> impl Future<Output = Result<StatusReport>> + Send {
        async { Err(Error::unsupported(format!("engine `{}` cannot resume jobs", Self::ID))) }
    }

    fn delete_job(&self, _handle: JobHandle) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Where this cluster's jobs would run, from its configs alone: asked
    /// before the cluster is checked or used, so it must not run anything.
    /// An engine that starts processes on the edpd host must answer `Host`
    /// (see [`Placement`]). Reached through `invoke("placement")`.
    fn placement(&self, _cluster: &ClusterSpec) -> Result<Placement> {
        Ok(Placement::Remote)
    }

    /// The job a launch with this submission tag (`job.execution_id`)
    /// started, as `run_job` would answer for it, or `None` when there is
    /// none. Asked before a cancel of a job whose launch may have reached
    /// the engine without its answer being recorded, so that nothing it
    /// started runs on. Must not start anything. Reached through
    /// `invoke("find_job")`; engines that cannot tell answer `unsupported`
    /// (the default), and edpd then says so in the job's `info`.
    fn find_job(&self, job: JobRequest) -> impl Future<Output = Result<Option<Launched>>> + Send {
        async move {
            let _ = job;
            Err(Error::unsupported(format!("engine `{}` cannot look a job up by its submission tag", Self::ID)))
        }
    }

    fn invoke(
        &self,
        op: String,
        _payload: serde_json::Value,
    ) -> impl Future<Output = Result<serde_json::Value>> + Send {
        async move { Err(Error::unsupported(format!("engine `{}` has no operation `{op}`", Self::ID))) }
    }
}

/// Exports `$engine` as this library's root module.
#[macro_export]
macro_rules! export_engine {
    ($engine:ty) => {
        // What `#[abi_stable::export_root_module]` expands to, spelt out so
        // that plugin crates need no direct dependency on abi_stable.
        #[doc(hidden)]
        #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
        pub static EDP_ENGINE_LIB_HEADER: $crate::__private::LibHeader = {
            extern "C" fn constructor() -> $crate::__private::RootModuleResult {
                $crate::__private::__call_root_module_loader($crate::plugin::root_module::<$engine>)
            }
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$crate::abi::EngineMod_Ref>(
                    constructor,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[doc(hidden)]
pub fn root_module<E: Engine>() -> EngineMod_Ref {
    use abi_stable::prefix_type::PrefixTypeTrait;
    EngineMod { engine_id: engine_id::<E>, new: new_engine::<E> }.leak_into_prefix()
}

extern "C" fn engine_id<E: Engine>() -> RStr<'static> {
    RStr::from_str(E::ID)
}

extern "C" fn new_engine<E: Engine>(settings: RString, host: HostArc) -> EngineResult<JobEngineBox> {
    let built = catch_unwind(AssertUnwindSafe(|| -> Result<JobEngineBox> {
        let host = HostHandle::new(host);
        let settings: EngineSettings = parse(&settings)?;
        install_host_logging::<E>(&host, settings.settings.get("log_level").and_then(|v| v.as_str()));
        let engine = E::new(EngineContext { settings, host })?;
        Ok(JobEngine_TO::from_value(Adapter { engine: Arc::new(engine) }, TD_Opaque))
    }));
    match built {
        Ok(Ok(engine)) => RResult::ROk(engine),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(panic) => RResult::RErr(panicked(panic).into()),
    }
}

/// The plugin's own runtime: the host's tokio is a different copy and cannot
/// be reached from here. Two workers; blocking work goes to its blocking pool.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("edp-engine")
            .enable_all()
            .build()
            .expect("the plugin runtime could not start")
    })
}

struct Adapter<E> {
    engine: Arc<E>,
}

impl<E: Engine> JobEngine for Adapter<E> {
    fn describe(&self) -> EngineResult<RString> {
        let described = catch_unwind(AssertUnwindSafe(|| to_json(&self.engine.describe())));
        match described {
            Ok(result) => result.map_err(EngineError::from).into(),
            Err(panic) => RResult::RErr(panicked(panic).into()),
        }
    }

    fn check_cluster(&self, cluster: RString) -> JsonFuture {
        let engine = self.engine.clone();
        spawn_call(async move { engine.check_cluster(parse(&cluster)?).await })
    }

    fn validate(&self, job: RString) -> JsonFuture {
        let engine = self.engine.clone();
        now_or_later(&job, |job| self.engine.validate_now(job), |job| async move { engine.validate(job).await })
    }

    fn run_job(&self, job: RString) -> JsonFuture {
        let engine = self.engine.clone();
        spawn_call(async move { engine.run_job(parse(&job)?).await })
    }

    fn get_job_status(&self, handle: RString) -> JsonFuture {
        let engine = self.engine.clone();
        now_or_later(
            &handle,
            |handle| self.engine.known_status(handle).map(Ok),
            |handle| async move { engine.get_job_status(handle).await },
        )
    }

    fn cancel_job(&self, handle: RString) -> JsonFuture {
        let engine = self.engine.clone();
        spawn_call(async move { engine.cancel_job(parse(&handle)?).await })
    }

    fn fetch_logs(&self, request: RString) -> JsonFuture {
        let engine = self.engine.clone();
        spawn_call(async move { engine.fetch_logs(parse(&request)?).await })
    }

    fn dry_run(&self, job: RString) -> JsonFuture {
        let engine = self.engine.clone();
        spawn_call(async move { engine.dry_run(parse(&job)?).await })
    }

    fn suspend_job(&self, handle: RString) -> JsonFuture {
        let engine = self.engine.clone();
        spawn_call(async move { engine.suspend_job(parse(&handle)?).await })
    }

    fn resume_job(&self, handle: RString) -> JsonFuture {
        let engine = self.engine.clone();
        spawn_call(async move { engine.resume_job(parse(&handle)?).await })
    }

    fn delete_job(&self, handle: RString) -> JsonFuture {
        let engine = self.engine.clone();
        spawn_call(async move {
            engine.delete_job(parse(&handle)?).await?;
            Ok(serde_json::json!({}))
        })
    }

    fn invoke(&self, op: RString, payload: RString) -> JsonFuture {
        let engine = self.engine.clone();
        if op.as_str() == PLACEMENT_OP {
            return spawn_call(async move {
                let cluster: ClusterSpec = parse(&payload)?;
                Ok(PlacementAnswer { placement: engine.placement(&cluster)? })
            });
        }
        if op.as_str() == FIND_JOB_OP {
            return spawn_call(async move {
                let job: JobRequest = parse(&payload)?;
                Ok(FoundJob { launched: engine.find_job(job).await? })
            });
        }
        spawn_call(async move { engine.invoke(op.into_string(), parse(&payload)?).await })
    }
}

/// Runs one call on the plugin runtime. The host polls the returned future;
/// dropping it (a host timeout) aborts the task. A panic in the task comes
/// back as a `FATAL` error with the panic message.
fn spawn_call<T, F>(call: F) -> JsonFuture
where
    T: Serialize + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let mut task = AbortOnDrop(runtime().spawn(call));
    async move {
        let outcome = match (&mut task.0).await {
            Ok(result) => result.and_then(|reply| to_json(&reply)),
            Err(join) if join.is_panic() => Err(panicked(join.into_panic())),
            Err(_) => Err(Error::fatal("the engine call was cancelled")),
        };
        outcome.map_err(EngineError::from).into()
    }
    .into_ffi()
}

/// A call the engine may answer at once (`now`: from memory, or from the
/// request alone; a panic there is caught), else runs `later` on the
/// plugin runtime. A malformed request is refused at once.
fn now_or_later<Q, T, F>(
    request: &str,
    now: impl FnOnce(&Q) -> Option<Result<T>>,
    later: impl FnOnce(Q) -> F,
) -> JsonFuture
where
    Q: DeserializeOwned,
    T: Serialize + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let request: Q = match parse(request) {
        Ok(request) => request,
        Err(e) => return answered(Err(e)),
    };
    match catch_unwind(AssertUnwindSafe(|| now(&request))) {
        Ok(Some(reply)) => answered(reply.and_then(|reply| to_json(&reply))),
        Ok(None) => spawn_call(later(request)),
        Err(panic) => answered(Err(panicked(panic))),
    }
}

/// A call answered without running anything: ready at the host's first
/// poll.
fn answered(reply: Result<RString>) -> JsonFuture {
    let reply: EngineResult<RString> = reply.map_err(EngineError::from).into();
    std::future::ready(reply).into_ffi()
}

/// Aborting a task that already finished does nothing, so this can abort
/// unconditionally.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn parse<T: DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::invalid_input(format!("malformed request from the host: {e}")))
}

fn to_json<T: Serialize>(value: &T) -> Result<RString> {
    serde_json::to_string(value)
        .map(RString::from)
        .map_err(|e| Error::fatal(format!("the engine's reply is not JSON: {e}")))
}

fn panicked(payload: Box<dyn Any + Send>) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into());
    Error::fatal(format!("engine panicked: {message}"))
}

/// Routes the plugin's `tracing` events (and panic messages) to the host.
/// The plugin's `tracing` is its own copy, so this subscriber is global to
/// this library only; the first engine constructed in it installs it.
///
/// `level` (the engine's `log_level` setting) bounds what crosses: INFO by
/// default. The HTTP stack a plugin links (hyper, reqwest, h2, rustls) is
/// chatty below WARN and says little a user can act on, so it stays at WARN
/// unless `level` is TRACE.
fn install_host_logging<E: Engine>(host: &HostHandle, level: Option<&str>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    static INSTALLED: OnceLock<()> = OnceLock::new();
    let level = level.and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    INSTALLED.get_or_init(|| {
        let mut filter = Targets::new().with_default(level);
        if level != LevelFilter::TRACE {
            for noisy in ["hyper", "hyper_util", "reqwest", "h2", "rustls", "tower"] {
                filter = filter.with_target(noisy, level.min(LevelFilter::WARN));
            }
        }
        let _ = tracing_subscriber::registry().with(ForwardToHost(host.clone()).with_filter(filter)).try_init();
        let panic_host = host.clone();
        std::panic::set_hook(Box::new(move |info| {
            panic_host.log(1, E::ID, &format!("panic: {info}"));
        }));
    });
}

struct ForwardToHost(HostHandle);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ForwardToHost {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        // The host re-emits what it is sent under this target; when the
        // plugin is linked into the host's own process (in-process tests),
        // forwarding it again would loop forever.
        if meta.target() == crate::HOST_LOG_TARGET {
            return;
        }
        let level = match *meta.level() {
            tracing::Level::ERROR => 1,
            tracing::Level::WARN => 2,
            tracing::Level::INFO => 3,
            tracing::Level::DEBUG => 4,
            tracing::Level::TRACE => 5,
        };
        let mut line = LineVisitor(String::new());
        event.record(&mut line);
        self.0.log(level, meta.target(), &line.0);
    }
}

struct LineVisitor(String);

impl tracing::field::Visit for LineVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};

    use serde_json::json;

    use super::*;
    use crate::wire::{ClusterCheck, JobStatus};

    /// Knows the end of job `known` in memory; asked about any other job,
    /// it counts the calls that run on the plugin's runtime.
    #[derive(Default)]
    struct Remembers {
        runtime_calls: AtomicUsize,
    }

    impl Engine for Remembers {
        const ID: &'static str = "remembers";

        fn new(_ctx: EngineContext) -> Result<Self> {
            Ok(Self::default())
        }

        fn describe(&self) -> EngineDescription {
            EngineDescription {
                id: Self::ID.into(),
                version: "0.1.0".into(),
                title: "Remembers".into(),
                description: String::new(),
                job_types: vec!["Shell".into()],
                cluster_config_schema: json!({"type": "object"}),
                capabilities: Default::default(),
                polling: Default::default(),
            }
        }

        async fn check_cluster(&self, _cluster: ClusterSpec) -> Result<ClusterCheck> {
            Err(Error::unsupported("no clusters"))
        }

        async fn validate(&self, _job: JobRequest) -> Result<Validated> {
            self.runtime_calls.fetch_add(1, Ordering::SeqCst);
            Ok(Validated { warnings: vec!["from the runtime".into()] })
        }

        fn validate_now(&self, job: &JobRequest) -> Option<Result<Validated>> {
            match job.execution_id.as_str() {
                "plain" => Some(Ok(Validated { warnings: vec!["from the request".into()] })),
                "wrong" => Some(Err(Error::invalid_input("wrong from the request"))),
                _ => None,
            }
        }

        async fn run_job(&self, _job: JobRequest) -> Result<Launched> {
            Err(Error::unsupported("no jobs"))
        }

        async fn get_job_status(&self, _handle: JobHandle) -> Result<StatusReport> {
            self.runtime_calls.fetch_add(1, Ordering::SeqCst);
            Ok(StatusReport::new(JobStatus::Running))
        }

        fn known_status(&self, handle: &JobHandle) -> Option<StatusReport> {
            match handle.execution_id.as_str() {
                "known" => Some(StatusReport::new(JobStatus::Succeeded).with_reason("from memory")),
                "exploding" => panic!("boom: known_status exploded"),
                _ => None,
            }
        }

        async fn cancel_job(&self, _handle: JobHandle) -> Result<StatusReport> {
            Err(Error::unsupported("no jobs"))
        }
    }

    fn handle(execution_id: &str) -> RString {
        let cluster = serde_json::to_value(ClusterSpec::default()).expect("a cluster");
        json!({"execution_id": execution_id, "engine_job_id": "1", "job_type": "Shell", "cluster": cluster})
            .to_string()
            .into()
    }

    fn job(execution_id: &str) -> RString {
        let cluster = serde_json::to_value(ClusterSpec::default()).expect("a cluster");
        json!({"execution_id": execution_id, "job_type": "Shell", "template_name": "t", "cluster": cluster})
            .to_string()
            .into()
    }

    /// Polls a call's future once, as the host's first poll does.
    fn first_poll(mut future: JsonFuture) -> Poll<EngineResult<RString>> {
        std::pin::Pin::new(&mut future).poll(&mut Context::from_waker(Waker::noop()))
    }

    fn report(answer: EngineResult<RString>) -> StatusReport {
        match answer {
            RResult::ROk(json) => serde_json::from_str(&json).expect("a status report"),
            RResult::RErr(e) => panic!("an error: {}", e.message),
        }
    }

    #[tokio::test]
    async fn a_status_known_in_memory_is_answered_at_once_without_the_runtime() {
        let engine = Arc::new(Remembers::default());
        let adapter = Adapter { engine: engine.clone() };

        let Poll::Ready(answer) = first_poll(adapter.get_job_status(handle("known"))) else {
            panic!("a known status must be ready at the first poll");
        };
        let known = report(answer);
        assert_eq!(known.status, JobStatus::Succeeded);
        assert_eq!(known.info["reason"], "from memory");
        assert_eq!(engine.runtime_calls.load(Ordering::SeqCst), 0, "the runtime was used");

        let other = report(adapter.get_job_status(handle("other")).await);
        assert_eq!(other.status, JobStatus::Running);
        assert_eq!(engine.runtime_calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_validation_that_needs_only_the_request_is_answered_at_once_without_the_runtime() {
        let engine = Arc::new(Remembers::default());
        let adapter = Adapter { engine: engine.clone() };
        let warnings = |answer: EngineResult<RString>| match answer {
            RResult::ROk(json) => serde_json::from_str::<Validated>(&json).expect("validated").warnings,
            RResult::RErr(e) => panic!("an error: {}", e.message),
        };

        let Poll::Ready(answer) = first_poll(adapter.validate(job("plain"))) else {
            panic!("a validation from the request must be ready at the first poll");
        };
        assert_eq!(warnings(answer), ["from the request"]);
        let Poll::Ready(RResult::RErr(e)) = first_poll(adapter.validate(job("wrong"))) else {
            panic!("a refusal from the request must be ready at the first poll");
        };
        assert!(e.kind == ErrorKind::INVALID_INPUT && e.message == "wrong from the request", "{}", e.message);
        assert_eq!(engine.runtime_calls.load(Ordering::SeqCst), 0, "the runtime was used");

        assert_eq!(warnings(adapter.validate(job("other")).await), ["from the runtime"]);
        assert_eq!(engine.runtime_calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_panic_in_known_status_is_an_error_not_a_crash() {
        let adapter = Adapter { engine: Arc::new(Remembers::default()) };
        let Poll::Ready(RResult::RErr(e)) = first_poll(adapter.get_job_status(handle("exploding"))) else {
            panic!("a panic must be answered as an error at once");
        };
        assert!(e.kind == ErrorKind::FATAL && e.message.contains("boom: known_status exploded"), "{}", e.message);
        // The engine still answers.
        assert_eq!(report(adapter.get_job_status(handle("known")).await).status, JobStatus::Succeeded);
    }

    #[tokio::test]
    async fn a_malformed_handle_is_refused_at_once() {
        let adapter = Adapter { engine: Arc::new(Remembers::default()) };
        let Poll::Ready(RResult::RErr(e)) = first_poll(adapter.get_job_status("{".into())) else {
            panic!("a malformed handle must be refused at once");
        };
        assert!(e.kind == ErrorKind::INVALID_INPUT, "{}", e.message);
    }
}
