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
        }
    }
}
