//! edp's `spark` engine: Sahara's Spark job type (a jar or a PySpark app)
//! on Apache Spark.
//!
//! Two ways to submit, chosen by the cluster's `submit_mode`:
//! - `spark-submit` (any master, any deploy mode): the spark-submit process
//!   runs under `edp-supervisor` (the binary of `edp-supervised`, installed
//!   beside the plugin) in a job directory of its own, so that it outlives
//!   edpd and its exit and output are kept. In standalone cluster mode it
//!   only submits; the driver it names is followed through the master's
//!   REST server.
//! - `rest`: the engine submits to a standalone master's REST server itself
//!   (jar apps, and Python apps through PythonRunner), recording the
//!   submission in the job directory so that it is made at most once.
//!
//! Modules:
//! - `engine`: the SDK's `Engine` operations, dispatching on how a job is
//!   followed.
//! - `settings`, `cluster`: the engine's settings; a cluster's configs and
//!   their schema. `check`: the check when a cluster is registered.
//! - `plan`: request → spark-submit argv or REST request body (pure: what
//!   validate, dry_run and run_job share).
//! - `submit`: spark-submit jobs on top of `edp_supervised`.
//! - `standalone`: drivers on a standalone master (submit once, status
//!   mapping, kill, logs); `rest`: the HTTP calls behind it.
//! - `diagnose`: a failed driver's reason from its output.
//! - `launcher.py`: runs a REST-submitted Python app and dies with its
//!   driver (pitfall P7 of a killed driver's orphan Python child).

mod check;
mod cluster;
mod diagnose;
mod engine;
mod plan;
mod rest;
mod settings;
mod standalone;
mod submit;

pub use edp_supervised::SUPERVISOR_NAME;
pub use engine::SparkEngine;

edp_engine_api::export_engine!(SparkEngine);
