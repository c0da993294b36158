//! Where a job's directory is, from its handle: the directory `run_job`
//! recorded, else where the cluster's configuration puts it now.

use edp_engine_api::plugin::Result;
use edp_engine_api::wire::JobHandle;
use edp_supervised::JobDir;

use crate::cluster::ClusterConfig;
use crate::settings::Settings;

pub fn for_handle(handle: &JobHandle, settings: &Settings) -> Result<JobDir> {
    if let Some(recorded) = JobDir::recorded(handle)? {
        return Ok(recorded);
    }
    let cluster = ClusterConfig::parse(&handle.cluster.configs)?;
    JobDir::in_work_dir(&cluster.work_dir(settings), &handle.execution_id)
}
