//! Jobs as processes on the edpd host, each in a directory of its own, run
//! by a supervisor (`edp-supervisor`, the binary of this crate) so that an
//! engine keeps no state and its jobs outlive edpd restarts. What the
//! engines that start local processes share (`local`; `spark` for
//! `spark-submit`): nothing here knows a job type or an engine's settings.
//!
//! Two supervisors, one job directory format:
//! - The host supervisor ([`HostSupervisor`], `edp-supervisor --serve`):
//!   one per engine data directory, started by the engine on first use,
//!   long-lived. Its worker spawns each job itself (one posix_spawn, as the
//!   job's own recipe would) and reaps it; its keeper, the worker's parent
//!   and a subreaper, inherits and records the jobs of a worker that dies.
//!   The `local` engine's launches go through it.
//! - A per-job supervisor ([`launch`], `edp-supervisor <jobdir>`): one
//!   process per job between edpd and the job (spark-submit jobs).
//!
//! The job directory is the whole contract (file names in [`layout`]):
//! - The engine creates it, stages the job's files and writes `job.json` (a
//!   [`JobSpec`]: argv, environment additions, cwd).
//! - The supervisor claims the job by creating `job.pid` exclusively (the
//!   host supervisor; a per-job one holds the `lock` handed over by the
//!   launcher instead), starts it in a process group of its own with
//!   `stdout` and `stderr` as its output, writes its pid into `job.pid`
//!   (= its group), waits, writes `exit` (an [`ExitRecord`]), and ends what
//!   the job left in its group.
//! - [`cancel`] writes `cancel_requested`, then signals the job's group.
//! - The rest only reads ([`status`], [`logs`], [`JobDir::delete`]).
//!
//! Modules:
//! - `layout`: the file names, `JobSpec`, `ExitRecord`, `job.pid`'s states.
//! - `checks`: the values that end up in paths, argv and environments.
//! - `jobdir`: one job directory as an engine reads it, and where it is.
//! - `hosted`: what an engine does for a job of the host supervisor (start
//!   once, observe, watch, cancel); `client` its connections; `protocol`
//!   what they say; `told` the ends they told; `stage` the job's files.
//! - `launch`, `job`, `watch`: the same for per-job supervisors.
//! - `status`, `cancel`, `logs`: a job's status, killing it, its output.
//! - `testing`: test support for engines built on this crate.
//! - `bin/edp-supervisor/`: both supervisors.

pub mod cancel;
pub mod checks;
mod client;
pub mod hosted;
pub mod job;
pub mod jobdir;
pub mod launch;
pub mod layout;
pub mod logs;
pub mod protocol;
mod stage;
pub mod status;
pub mod testing;
mod told;
pub mod watch;

pub use hosted::{HostSupervisor, JobPlan};
pub use jobdir::{JOB_DIR_KEY, JobDir};
pub use launch::{Launch, LaunchPlan};
pub use layout::{ExitRecord, JobSpec};
pub use status::Observed;
pub use watch::Watcher;

/// The supervisor's file name. Engines look for it beside their plugin
/// file unless configured otherwise.
pub const SUPERVISOR_NAME: &str = "edp-supervisor";
