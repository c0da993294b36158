//! What the core needs from the service's configuration.

use std::path::PathBuf;
use std::time::Duration;

use crate::host::FileRoots;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Where engines keep their files and internal binaries are staged.
    pub data_dir: PathBuf,
    /// Every engine call but the ones below.
    pub call_timeout: Duration,
    /// `run_job`: it may upload binaries before it answers.
    pub launch_timeout: Duration,
    /// How long a cancel may take before it is reported as not confirmed.
    pub cancel_timeout: Duration,
    /// `GET /v2/jobs/{id}?refresh_status=true` waits at most this for the engine.
    pub refresh_timeout: Duration,
    /// Largest internal binary accepted, in bytes.
    pub max_binary_size: u64,
    /// Transient launch failures are retried this many times.
    pub launch_attempts: i32,
    /// Engine calls under way at once, per engine.
    pub engine_concurrency: usize,
    /// edpd's address as engines' backends reach it (`http://host:port`),
    /// for status callbacks. `None`: no callbacks are offered.
    pub public_url: Option<String>,
    /// Where `file://` binaries and `file` data sources may point.
    pub file_roots: FileRoots,
    /// This process among the edpd sharing the database: leases name it,
    /// and host-bound jobs belong to it. One process per id at a time.
    pub node_id: String,
    /// A node not seen for this long has its host-bound jobs say so.
    pub node_timeout: Duration,
    /// Engine calls under way at once per cluster, so that a slow or hung
    /// cluster holds no more than its share of its engine's.
    pub cluster_concurrency: usize,
    /// How often a job an engine watches (it sends a hint when the job
    /// ends) is polled anyway, at most.
    pub fallback_poll: Duration,
    /// Retries and timeouts of jobs that do not set their own (`[jobs]`).
    pub job_defaults: crate::manager::JobDefaults,
    /// How long finished jobs and flows are kept (`[retention]`).
    pub retention: crate::retention::Retention,
    /// Jobs one project may run at once over all clusters (`[auth]
    /// max_concurrent_jobs_per_project`); `None`: no limit.
    pub project_job_limit: Option<u32>,
}

impl Settings {
    /// How long a claim on a row lasts: longer than any one step takes
    /// (a launch, a whole cancel), so only a node that died or hung loses
    /// one.
    pub fn lease(&self) -> Duration {
        let longest = self.launch_timeout.max(self.cancel_timeout).max(self.call_timeout);
        longest + longest / 2 + Duration::from_secs(10)
    }

    /// When a claim taken at `now` expires.
    pub fn lease_expires(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now + chrono::Duration::from_std(self.lease()).unwrap_or(chrono::Duration::minutes(5))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            call_timeout: Duration::from_secs(30),
            launch_timeout: Duration::from_secs(120),
            cancel_timeout: Duration::from_secs(60),
            refresh_timeout: Duration::from_secs(10),
            max_binary_size: 5 * 1024 * 1024,
            launch_attempts: 5,
            engine_concurrency: 64,
            public_url: None,
            file_roots: FileRoots::Anywhere,
            node_id: "edpd".into(),
            node_timeout: Duration::from_secs(120),
            cluster_concurrency: 16,
            fallback_poll: Duration::from_secs(300),
            job_defaults: Default::default(),
            retention: Default::default(),
            project_job_limit: None,
        }
    }
}
