//! Jobs as processes on the edpd host, each run by a supervisor
//! (`edp-supervisor`, the binary of this crate) in a directory of its own,
//! so that an engine keeps no state and its jobs outlive edpd restarts.
//! What the engines that start local processes share (`local`; `spark`
//! for `spark-submit`): nothing here knows a job type or an engine's
//! settings.
//!
//! The job directory is the whole contract (file names in [`layout`]):
//! - [`launch`] (the engine) creates it, stages the job's files, writes
//!   `job.json` (a [`JobSpec`]: argv, environment additions, cwd), takes the
//!   `lock` and starts the supervisor with that lock as its stdin, so that
//!   the lock passes from launcher to supervisor without ever being free,
//!   and with `stdout` and `stderr` as its output, which the job inherits.
//! - The supervisor writes `supervisor.pid`, starts the job in a process
//!   group of its own, writes `job.pid` (= that group), waits, writes `exit`
//!   (an [`ExitRecord`]) last, ends what the job left in its group, and
//!   exits, which frees the lock.
//! - [`cancel`] writes `cancel_requested`, then signals the job's group.
//! - The rest only reads: a held lock means a live supervisor, `exit` an
//!   ended job ([`status`], [`logs`], [`JobDir::delete`]).
//!
//! Modules:
//! - `layout`: the file names, `JobSpec`, `ExitRecord`.
//! - `checks`: the values that end up in paths, argv and environments.
//! - `jobdir`: one job directory as an engine reads it, and where it is.
//! - `launch`: starting a supervisor, once per job directory.
//! - `job`: what an engine does and answers for a supervised job.
//! - `status`, `cancel`, `logs`: a job's status, killing it, its output.
//! - `watch`: exit notifications to the host.
//! - `bin/edp-supervisor.rs`: the supervisor.

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
