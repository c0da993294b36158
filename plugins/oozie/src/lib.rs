//! edp's `oozie` engine: Sahara's Hadoop job types (MapReduce,
//! MapReduce.Streaming, Java, Pig, Hive, Shell, Spark) as Oozie workflows.
//!
//! A launch writes workflow.xml and the job's binaries to HDFS through
//! WebHDFS, under `/user/<hdfs_user>/edp/<template>/<execution id>/`, and
//! submits the workflow with `POST /v2/jobs?action=start`; the Oozie id is
//! the job's `engine_job_id`. The submitted job properties name edpd's
//! status callback as Oozie's notification URL, so a status change is
//! polled at once; polling stays the fallback.
//!
//! - `engine`: the SDK's `Engine` operations, glueing the modules below.
//! - `settings`, `cluster`, `check`: the engine's settings; a cluster's
//!   configs and their check at registration.
//! - `plan`, `workflow`, `xml`: request → workflow.xml, uploads and job
//!   properties, by Sahara's rules.
//! - `http`, `oozie`, `webhdfs`, `model`: the two HTTP APIs and what a
//!   failure means (transient, not found, refused).
//! - `status`, `dates`, `logs`: Oozie's states and answers as edp reports them.

mod check;
mod cluster;
mod dates;
mod engine;
mod http;
mod logs;
mod model;
mod oozie;
mod plan;
mod settings;
mod status;
mod webhdfs;
mod workflow;
mod xml;

pub use engine::OozieEngine;

edp_engine_api::export_engine!(OozieEngine);
