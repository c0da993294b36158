//! What many running jobs cost the engine and its host supervisor: N Shell
//! jobs each blocked on one FIFO (one `cat` process a job), then
//!
//! - idle: CPU used by this process (the engine) and by the supervisor's
//!   keeper and worker over a quiet interval, and their memory;
//! - status: `get_job_status` of every running job, time and CPU per call;
//! - ends: the FIFO is opened and closed, every job ends at once; the time
//!   until every exit notification reached the host, and whether each job
//!   then reads SUCCEEDED.
//!
//! `cargo run --release -p edp-engine-local --example running_jobs -- [JOBS] [IDLE_SECONDS]`
//! (build the supervisor first: `cargo build --release -p edp-supervised`).
//! What it does not measure: the host's own polling of running jobs (core).
//! 10,000 jobs are 10,000 processes: `kernel.pid_max` (32,768 here) and
//! `ulimit -u` must allow that many more.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RStr};
use edp_engine_api::abi::{Host, Host_TO};
use edp_engine_api::plugin::{Engine, EngineContext, HostHandle};
use edp_engine_api::wire::{Binary, ClusterSpec, EngineSettings, JobHandle, JobRequest, JobStatus, Object};
use edp_engine_local::{LocalEngine, SUPERVISOR_NAME};
use serde_json::json;

#[derive(Clone, Default)]
struct Hints(Arc<Mutex<HashSet<String>>>);

impl Host for Hints {
    fn log(&self, _level: u8, _target: RStr<'_>, message: RStr<'_>) {
        eprintln!("{message}");
    }
    fn status_hint(&self, execution_id: RStr<'_>) {
        if let Ok(mut seen) = self.0.lock() {
            seen.insert(execution_id.as_str().to_owned());
        }
    }
}

impl Hints {
    fn count(&self) -> usize {
        self.0.lock().map_or(0, |s| s.len())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let idle: u64 = args.next().map_or(Ok(10), |a| a.parse())?;
    let exe = std::env::current_exe()?;
    let supervisor = exe.parent().and_then(|p| p.parent()).ok_or("no target dir")?.join(SUPERVISOR_NAME);

    let root = tempfile::tempdir()?;
    let fifo = root.path().join("release");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0)?;
    let script = root.path().join("job.sh");
    std::fs::write(&script, format!("exec cat {} > /dev/null\n", fifo.display()))?;

    let hints = Hints::default();
    let host = Host_TO::from_ptr(RArc::new(hints.clone()), TD_Opaque);
    let settings = json!({ "supervisor": supervisor }).as_object().cloned().unwrap_or_default();
    let engine = Arc::new(LocalEngine::new(EngineContext {
        settings: EngineSettings { plugin_path: exe.clone(), data_dir: root.path().into(), settings },
        host: HostHandle::new(host),
    })?);
    let request = |i: usize| JobRequest {
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

    let start = Instant::now();
    let mut handles = Vec::with_capacity(jobs);
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(8) {
        let launches = chunk.iter().map(|&i| {
            let (engine, job) = (engine.clone(), request(i));
            async move {
                let launched = engine.run_job(job.clone()).await?;
                Ok::<_, edp_engine_api::plugin::Error>(JobHandle {
                    execution_id: job.execution_id,
                    engine_job_id: launched.engine_job_id,
                    job_type: job.job_type,
                    cluster: job.cluster,
                    extra: launched.extra,
                    cancel_requested: false,
                })
            }
        });
        for handle in futures_join(launches).await {
            handles.push(handle?);
        }
    }
    println!("{jobs} jobs launched in {:.2?}", start.elapsed());

    let state = root.path().join("supervisor");
    let pid = |name: &str| -> Result<i32, Box<dyn std::error::Error>> {
        Ok(std::fs::read_to_string(state.join(name))?.trim().parse()?)
    };
    let (keeper, worker) = (pid("keeper.pid")?, pid("worker.pid")?);
    let before = [cpu(None)?, cpu(Some(keeper))?, cpu(Some(worker))?];
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let after = [cpu(None)?, cpu(Some(keeper))?, cpu(Some(worker))?];
    let used = |i: usize| 100.0 * (after[i] - before[i]) / idle as f64;
    println!(
        "{jobs} running, idle {idle} s: CPU engine {:.2}%, keeper {:.2}%, worker {:.2}% of a core; RSS keeper {} KiB, worker {} KiB",
        used(0),
        used(1),
        used(2),
        rss(keeper)?,
        rss(worker)?
    );

    let cpu_before = cpu(None)?;
    let start = Instant::now();
    for handle in &handles {
        let report = engine.get_job_status(handle.clone()).await?;
        assert_eq!(report.status, JobStatus::Running, "{:?}", report.info);
    }
    let (took, cpu_used) = (start.elapsed(), cpu(None)? - cpu_before);
    println!(
        "get_job_status of a running job: {:.1} µs wall, {:.1} µs CPU (all threads of this process), {jobs} calls",
        took.as_secs_f64() * 1e6 / jobs as f64,
        cpu_used * 1e6 / jobs as f64
    );

    // A writer that opens and closes the FIFO gives every reader its end
    // of file; again for any reader that opened it only after that.
    let start = Instant::now();
    let mut released = start - Duration::from_secs(1);
    while hints.count() < jobs {
        if start.elapsed() > Duration::from_secs(300) {
            return Err(format!("only {} of {jobs} ends were told", hints.count()).into());
        }
        if released.elapsed() >= Duration::from_millis(500) {
            use std::os::unix::fs::OpenOptionsExt as _;
            let writer = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo);
            drop(writer);
            released = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("all {jobs} ends told {:.2?} after the release", start.elapsed());
    for handle in &handles {
        let report = engine.get_job_status(handle.clone()).await?;
        assert_eq!(report.status, JobStatus::Succeeded, "{:?}", report.info);
    }
    println!("all SUCCEEDED");
    Ok(())
}

/// Joins futures without pulling in a crate for it.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

/// CPU seconds (user + system) of a process (`None`: this one).
fn cpu(pid: Option<i32>) -> Result<f64, Box<dyn std::error::Error>> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let stat = std::fs::read_to_string(path)?;
    let fields: Vec<&str> = stat.rsplit_once(')').ok_or("bad stat")?.1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // SAFETY: sysconf reads a constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / per_second)
}

fn rss(pid: i32) -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("no value")?.parse()?)
}
