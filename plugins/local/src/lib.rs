//! edp's `local` engine: Shell, Java and Python jobs as processes on the
//! edpd host.
//!
//! Each job runs under `edp-local-supervisor` (the binary of this crate) in
//! a directory of its own, which holds everything known about the job (see
//! [`layout`]), so the plugin keeps no state and jobs outlive edpd.
//!
//! - `engine`: the SDK's `Engine` operations, glueing the modules below.
//! - `settings`, `cluster`: the engine's settings; a cluster's configs.
//! - `command`, `checks`: request → argv, environment and files.
//! - `launch`: starting a supervisor, once per execution.
//! - `jobdir`, `status`: reading a job directory; the status it shows.
//! - `cancel`, `logs`, `watch`: killing, log reading, exit notifications.

mod cancel;
mod checks;
mod cluster;
mod command;
mod engine;
mod jobdir;
mod launch;
pub mod layout;
mod logs;
mod settings;
mod status;
mod watch;

pub use engine::LocalEngine;
pub use settings::SUPERVISOR_NAME;

edp_engine_api::export_engine!(LocalEngine);
