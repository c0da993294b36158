//! How many jobs a second the engine starts and sees end, each a full
//! launch: job directory, staged script, job.json, supervisor, job in its
//! own process group, exit record, exit notification.
//!
//! `cargo run --release -p edp-engine-local --example launch_rate -- [JOBS] [CONCURRENCY]`
//! (build the supervisor first: `cargo build --release -p edp-supervised`).
//! The "shell" is /bin/true, so the figure is the engine's cost, not sh's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RStr};
use edp_engine_api::abi::{Host, Host_TO};
use edp_engine_api::plugin::{Engine, EngineContext, HostHandle};
use edp_engine_api::wire::{Binary, ClusterSpec, EngineSettings, JobRequest, Object};
use edp_engine_local::{LocalEngine, SUPERVISOR_NAME};
use serde_json::json;

struct CountingHost(Arc<AtomicUsize>);

impl Host for CountingHost {
    fn log(&self, _level: u8, _target: RStr<'_>, message: RStr<'_>) {
        eprintln!("{message}");
    }
    fn status_hint(&self, _execution_id: RStr<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().map_or(Ok(2000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let exe = std::env::current_exe()?;
    let supervisor = exe.parent().and_then(|p| p.parent()).ok_or("no target dir")?.join(SUPERVISOR_NAME);

    let root = tempfile::tempdir()?;
    let script = root.path().join("job.sh");
    std::fs::write(&script, "exit 0\n")?;
    let ended = Arc::new(AtomicUsize::new(0));
    let host = Host_TO::from_ptr(RArc::new(CountingHost(ended.clone())), TD_Opaque);
    let settings = json!({ "supervisor": supervisor }).as_object().cloned().unwrap_or_default();
    let engine = Arc::new(LocalEngine::new(EngineContext {
        settings: EngineSettings { plugin_path: exe.clone(), data_dir: root.path().into(), settings },
        host: HostHandle::new(host),
    })?);
    let request = move |i: usize| JobRequest {
        execution_id: format!("00000000-0000-4000-8000-{i:012}"),
        job_type: "Shell".into(),
        template_name: "bench".into(),
        cluster: ClusterSpec {
            id: "c".into(),
            name: "local".into(),
            configs: json!({ "shell": "/bin/true" }).as_object().cloned().unwrap_or_default(),
        },
        mains: vec![Binary {
            id: "b".into(),
            name: "job.sh".into(),
            url: "file://".into(),
            path: Some(script.clone()),
        }],
        libs: vec![],
        input: None,
        output: None,
        configs: Object::new(),
        params: Object::new(),
        args: vec![],
        callback: None,
    };

    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (engine, next, request) = (engine.clone(), next.clone(), request.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    return Ok::<_, edp_engine_api::plugin::Error>(());
                }
                engine.run_job(request(i)).await?;
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let launched = start.elapsed();
    while ended.load(Ordering::Relaxed) < jobs {
        if start.elapsed() > Duration::from_secs(600) {
            return Err("jobs did not end within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = start.elapsed();
    println!(
        "{jobs} jobs, {concurrency} concurrent launches: launched in {launched:.2?} ({:.0}/s), all ended in {all:.2?} ({:.0}/s)",
        jobs as f64 / launched.as_secs_f64(),
        jobs as f64 / all.as_secs_f64()
    );
    Ok(())
}
