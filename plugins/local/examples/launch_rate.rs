//! How many Shell jobs a second the engine starts and sees end, against
//! the same job's bare recipe measured in the same run.
//!
//! - ceiling: the recipe without edp, on two threads: job directory, two
//!   log files, own process group, posix_spawn of `/bin/sh job.sh` (one
//!   script for all), wait, exit file;
//! - engine: `LocalEngine::run_job` of a Shell job whose script is `true`,
//!   the real thing end to end (staged script, job.json, the host
//!   supervisor's spawn and exit record), until every job's exit
//!   notification has reached the host.
//!
//! `cargo run --release -p edp-engine-local --example launch_rate -- [JOBS] [CONCURRENCY]`
//! (build the supervisor first: `cargo build --release -p edp-supervised`).

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
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
    let jobs: usize = args.next().map_or(Ok(3000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(8), |a| a.parse())?;
    let exe = std::env::current_exe()?;
    let supervisor = exe.parent().and_then(|p| p.parent()).ok_or("no target dir")?.join(SUPERVISOR_NAME);

    let root = tempfile::tempdir()?;
    let script = root.path().join("job.sh");
    std::fs::write(&script, "true\n")?;

    let ceiling = {
        let (dir, script) = (root.path().join("recipe"), script.clone());
        tokio::task::spawn_blocking(move || recipe(&dir, &script, jobs)).await?
    };
    println!("recipe ceiling: {ceiling:.0} jobs/s (2 threads)");

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
        cluster: ClusterSpec { id: "c".into(), name: "local".into(), configs: Object::new() },
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
    // One job first: the supervisor starts on first use, not in the figure.
    engine.run_job(request(jobs)).await?;
    while ended.load(Ordering::Relaxed) < 1 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    ended.store(0, Ordering::Relaxed);

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
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let all = start.elapsed();
    let rate = jobs as f64 / all.as_secs_f64();
    println!(
        "engine: {jobs} jobs, {concurrency} concurrent launches: launched in {launched:.2?}, all ended in \
         {all:.2?}: {rate:.0} jobs/s"
    );
    println!("engine / recipe: {:.0}%", 100.0 * rate / ceiling);
    Ok(())
}

/// The Shell job's own recipe, without edp, on two threads.
fn recipe(dir: &Path, script: &Path, n: usize) -> f64 {
    std::fs::create_dir_all(dir).expect("recipe dir");
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2 {
            s.spawn(move || {
                for i in (t..n).step_by(2) {
                    let job = dir.join(i.to_string());
                    std::fs::create_dir(&job).expect("job dir");
                    let out = std::fs::File::create(job.join("stdout")).expect("stdout");
                    let err = std::fs::File::create(job.join("stderr")).expect("stderr");
                    let status = Command::new("/bin/sh")
                        .arg(script)
                        .current_dir(&job)
                        .process_group(0)
                        .stdin(Stdio::null())
                        .stdout(out)
                        .stderr(err)
                        .status()
                        .expect("spawn");
                    let mut exit = std::fs::File::create_new(job.join("exit")).expect("exit file");
                    write!(exit, "{{\"code\":{}}}", status.code().unwrap_or(-1)).expect("exit record");
                }
            });
        }
    });
    n as f64 / start.elapsed().as_secs_f64()
}
