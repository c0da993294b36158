//! edp's `local` engine: Shell, Java, Python and MapReduce.Streaming jobs
//! as processes on the edpd host.
//!
//! Each job runs under `edp-supervisor` (the binary of `edp-supervised`,
//! installed beside the plugin) in a directory of its own, which holds
//! everything known about the job, so the plugin keeps no state and jobs
//! outlive edpd. Launching, status, cancelling, logs and exit
//! notifications are `edp_supervised`'s; this crate turns requests into
//! what it runs.
//!
//! - `engine`: the SDK's `Engine` operations, glueing the modules below
//!   to `edp_supervised`.
//! - `settings`, `cluster`: the engine's settings; a cluster's configs.
//! - `command`, `checks`: request → argv, environment and files.
//! - `jobdir`: where a job's directory is, from its handle.
//! - `streaming`: MapReduce.Streaming requests → the runner's spec; the
//!   runner's status → progress and info.
//! - `mapreduce`: the MapReduce.Streaming runner (`edp-mapreduce`, the
//!   binary in `src/bin`, also installed beside the plugin) and the files
//!   it shares with the plugin.

mod checks;
mod cluster;
mod command;
mod engine;
mod jobdir;
pub mod mapreduce;
mod settings;
mod streaming;

pub use edp_supervised::SUPERVISOR_NAME;
pub use engine::LocalEngine;
pub use settings::MAPREDUCE_RUNNER_NAME;

edp_engine_api::export_engine!(LocalEngine);
