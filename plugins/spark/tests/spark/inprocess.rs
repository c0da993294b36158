//! The engine driven in-process (the rlib), for what cannot be brought
//! about through edpd's API: a launch repeated after the engine lost the
//! answer to its submission.

use std::path::Path;

use edp_engine_api::plugin::Engine;
use edp_engine_api::plugin::testing::TestHost;
use edp_engine_api::wire::{EngineSettings, JobHandle, JobRequest, Launched};
use edp_engine_spark::SparkEngine;
use serde_json::json;

/// A spark engine whose data directory is `data_dir`.
pub fn engine(data_dir: &Path) -> SparkEngine {
    let settings = EngineSettings {
        plugin_path: data_dir.join("libedp_engine_spark.so"),
        data_dir: data_dir.to_path_buf(),
        settings: json!({"request_timeout_ms": 10_000}).as_object().cloned().unwrap_or_default(),
    };
    SparkEngine::new(TestHost::new().context_with(settings))
        .unwrap_or_else(|e| panic!("the engine does not start: {e}"))
}

pub fn handle(request: &JobRequest, launched: &Launched) -> JobHandle {
    JobHandle {
        execution_id: request.execution_id.clone(),
        engine_job_id: launched.engine_job_id.clone(),
        job_type: request.job_type.clone(),
        cluster: request.cluster.clone(),
        extra: launched.extra.clone(),
        cancel_requested: false,
    }
}
