//! The engine driven in-process (the rlib), for what cannot be brought
//! about through edpd's API: a launch repeated after the engine lost the
//! answer to its submission.

use std::path::Path;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RStr};
use edp_engine_api::abi::{Host, Host_TO};
use edp_engine_api::plugin::{Engine, EngineContext, HostHandle};
use edp_engine_api::wire::{EngineSettings, JobHandle, JobRequest, Launched};
use edp_engine_spark::SparkEngine;
use serde_json::json;

struct TestHost;

impl Host for TestHost {
    fn log(&self, level: u8, target: RStr<'_>, message: RStr<'_>) {
        eprintln!("[{level}] {target}: {message}");
    }

    fn status_hint(&self, _execution_id: RStr<'_>) {}
}

/// A spark engine whose data directory is `data_dir`.
pub fn engine(data_dir: &Path) -> SparkEngine {
    let host = HostHandle::new(Host_TO::from_ptr(RArc::new(TestHost), TD_Opaque));
    let settings = EngineSettings {
        plugin_path: data_dir.join("libedp_engine_spark.so"),
        data_dir: data_dir.to_path_buf(),
        settings: json!({"request_timeout_ms": 10_000}).as_object().cloned().unwrap_or_default(),
    };
    SparkEngine::new(EngineContext { settings, host }).unwrap_or_else(|e| panic!("the engine does not start: {e}"))
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
