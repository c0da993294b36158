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
//! (builds the supervisor, `edp-supervised`'s binary, in the same profile
//! first).
//!
//! CPU per job is also shown, for the recipe (the launching threads, and
//! the jobs) and for edp (this process: the engine; the supervisor's
//! processes; the jobs, as the worker's reaped children), since CPU time
//! says more than rates on a machine others use.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use edp_engine_api::plugin::Engine;
use edp_engine_api::plugin::testing::TestHost;
use edp_engine_api::wire::{Binary, ClusterSpec, EngineSettings, JobRequest, Object};
use edp_engine_local::{LocalEngine, SUPERVISOR_NAME};
use serde_json::json;

/// Jobs run one at a time for the latency figure.
const LATENCY_JOBS: usize = 200;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().map_or(Ok(3000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(8), |a| a.parse())?;
    let exe = std::env::current_exe()?;
    let supervisor = build_supervisor(&exe)?;

    let root = tempfile::tempdir()?;
    let script = root.path().join("job.sh");
    std::fs::write(&script, "true\n")?;

    let (own, children) = (cpu_self(), cpu_children());
    let ceiling = {
        let (dir, script) = (root.path().join("recipe"), script.clone());
        tokio::task::spawn_blocking(move || recipe(&dir, &script, jobs)).await?
    };
    let per_job = |seconds: f64| seconds * 1e6 / jobs as f64;
    println!(
        "recipe ceiling: {ceiling:.0} jobs/s (2 threads); CPU per job: launcher {:.0} µs, job {:.0} µs",
        per_job(cpu_self() - own),
        per_job(cpu_children() - children)
    );

    // Each job's end is told once: the hints count the ends.
    let host = TestHost::new();
    let settings = json!({ "supervisor": supervisor }).as_object().cloned().unwrap_or_default();
    let engine = Arc::new(LocalEngine::new(host.context_with(EngineSettings {
        plugin_path: exe.clone(),
        data_dir: root.path().into(),
        settings,
    }))?);
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
    if !host.wait_for_hints(1, Duration::from_secs(30)).await {
        return Err("the first job's end was not told within 30 s".into());
    }

    let state = root.path().join("supervisor");
    let pid = |name: &str| -> Result<i32, Box<dyn std::error::Error>> {
        Ok(std::fs::read_to_string(state.join(name))?.trim().parse()?)
    };
    let (keeper, worker) = (pid("keeper.pid")?, pid("worker.pid")?);
    let before = (cpu_self(), proc_cpu(keeper)?, proc_cpu(worker)?);
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
    if !host.wait_for_hints(1 + jobs, Duration::from_secs(600)).await {
        return Err("jobs did not end within 10 minutes".into());
    }
    let all = start.elapsed();
    let rate = jobs as f64 / all.as_secs_f64();
    println!(
        "engine: {jobs} jobs, {concurrency} concurrent launches: launched in {launched:.2?}, all ended in \
         {all:.2?}: {rate:.0} jobs/s"
    );
    let after = (cpu_self(), proc_cpu(keeper)?, proc_cpu(worker)?);
    println!(
        "CPU per job: engine {:.0} µs, supervisor {:.0} µs (keeper {:.0}), job {:.0} µs",
        per_job(after.0 - before.0),
        per_job(after.2.0 - before.2.0 + after.1.0 - before.1.0),
        per_job(after.1.0 - before.1.0),
        per_job(after.2.1 - before.2.1)
    );
    println!("engine / recipe: {:.0}%", 100.0 * rate / ceiling);

    // Latency at low load: one job at a time, from run_job to the end's
    // notification reaching the host (the engine's share of POST →
    // SUCCEEDED; the host's poll and row write come on top).
    let mut latencies = Vec::new();
    for i in 0..LATENCY_JOBS {
        let seen = host.hint_count();
        let t0 = Instant::now();
        engine.run_job(request(jobs + 1 + i)).await?;
        if !host.wait_for_hints(seen + 1, Duration::from_secs(30)).await {
            return Err("a job's end was not told within 30 s".into());
        }
        latencies.push(t0.elapsed());
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    println!("run_job → end told, one job at a time: p50 {:.2} ms, p99 {:.2} ms", pct(0.5), pct(0.99));
    Ok(())
}

/// `cargo build -p edp-supervised` into the profile directory of this
/// example (`<target>/<profile>/examples/launch_rate`).
fn build_supervisor(exe: &Path) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("no profile directory")?;
    let target_dir = profile_dir.parent().ok_or("no target directory")?;
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args(["build", "--quiet", "-p", "edp-supervised", "--bin", SUPERVISOR_NAME])
        .arg("--target-dir")
        .arg(target_dir);
    if profile_dir.ends_with("release") {
        cargo.arg("--release");
    }
    if !cargo.current_dir(env!("CARGO_MANIFEST_DIR")).status()?.success() {
        return Err("building edp-supervisor failed".into());
    }
    Ok(profile_dir.join(SUPERVISOR_NAME))
}

/// CPU seconds of this process, all threads.
fn cpu_self() -> f64 {
    rusage(libc::RUSAGE_SELF)
}

/// CPU seconds of this process's children that were waited for.
fn cpu_children() -> f64 {
    rusage(libc::RUSAGE_CHILDREN)
}

fn rusage(who: libc::c_int) -> f64 {
    // SAFETY: rusage is plain data, valid zeroed; getrusage fills it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// A process's own CPU seconds, and those of the children it waited for.
fn proc_cpu(pid: i32) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<f64> =
        stat.rsplit_once(')').ok_or("bad stat")?.1.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // utime, stime, cutime, cstime: fields 14-17 of stat, 11-14 after the name.
    Ok(((fields[11] + fields[12]) / hz, (fields[13] + fields[14]) / hz))
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
