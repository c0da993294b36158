//! What tracking many running jobs costs edpd (issue 11): CPU share and
//! memory of edpd and of the local engine's host supervisor while 1,000,
//! 5,000 and 10,000 local Shell jobs (`exec sleep`) run and nothing else
//! happens, against the same edpd with no job running, measured in the same
//! run (the ceiling: what it costs to track nothing).
//!
//! Every job is cancelled at the end, through the API (which also measures
//! how long 10,000 cancels take to be carried out).
//!
//! `cargo run --release -p edp-tests --bin edp-tracking -- --help` lists its options (written once, in
//! `options()`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use edp_tests::TestApp;
use edp_tests::bench::{cpu_secs, rss_mib};
use futures::future::join_all;
use serde_json::{Value, json};

const CLIENTS: usize = 16;

struct Options {
    steps: Vec<usize>,
    window: Duration,
}

fn options() -> Options {
    let mut o = Options { steps: vec![1000, 5000, 10000], window: Duration::from_secs(20) };
    let mut args = edp_tests::bench::Args::new("edp-tracking [--steps 1000,5000,10000] [--window S]");
    while let Some(option) = args.next_option() {
        match option.as_str() {
            "--steps" => o.steps = args.list(&option),
            "--window" => o.window = Duration::from_secs(args.value(&option)),
            other => args.wrong(&format!("unknown option {other}")),
        }
    }
    o
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run(o));
}

fn supervisor_pids(data_dir: &Path) -> Vec<u32> {
    ["keeper.pid", "worker.pid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(data_dir.join("engines/local/supervisor").join(f)).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

struct Sample {
    running: usize,
    edpd_cpu: f64,
    supervisor_cpu: f64,
    edpd_rss: f64,
    supervisor_rss: f64,
}

/// CPU shares over a quiet window, and memory at its end.
async fn sample(app: &TestApp, running: usize, window: Duration) -> Sample {
    let edpd = app.pid().expect("edpd runs");
    let supervisor = supervisor_pids(&app.data_dir());
    let sup_cpu = |pids: &[u32]| pids.iter().map(|p| cpu_secs(*p)).sum::<f64>();
    let (e0, s0, t0) = (cpu_secs(edpd), sup_cpu(&supervisor), Instant::now());
    tokio::time::sleep(window).await;
    let (e1, s1, secs) = (cpu_secs(edpd), sup_cpu(&supervisor), t0.elapsed().as_secs_f64());
    Sample {
        running,
        edpd_cpu: 100.0 * (e1 - e0) / secs,
        supervisor_cpu: 100.0 * (s1 - s0) / secs,
        edpd_rss: rss_mib(edpd),
        supervisor_rss: supervisor.iter().map(|p| rss_mib(*p)).sum(),
    }
}

/// How many jobs have a status among `statuses`, by paging the list.
async fn count(app: &TestApp, statuses: &str) -> usize {
    let mut n = 0;
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            Some(m) => format!("/v2/jobs?status={statuses}&limit=1000&marker={m}"),
            None => format!("/v2/jobs?status={statuses}&limit=1000"),
        };
        let page = app.get(&path).await.expect(200);
        n += page["jobs"].as_array().expect("jobs").len();
        match page["markers"]["next"].as_str() {
            Some(next) => marker = Some(next.to_string()),
            None => return n,
        }
    }
}

async fn wait_count(app: &TestApp, statuses: &str, want: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let n = count(app, statuses).await;
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "{n} jobs {statuses}, waiting for {want}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn launch(app: &TestApp, body: &Value, n: usize) -> Vec<String> {
    edp_tests::bench::launch_many(app, body, n, CLIENTS).await
}

async fn cancel_all(app: &TestApp, ids: &[String]) {
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(ids.to_vec());
    join_all((0..CLIENTS).map(|_| {
        let (http, base, next, ids) = (app.http.clone(), app.base.clone(), next.clone(), ids.clone());
        async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { return };
                let status = http
                    .patch(format!("{base}/v2/jobs/{id}"))
                    .json(&json!({"info": {"status": "cancel"}}))
                    .send()
                    .await
                    .expect("patch")
                    .status();
                assert_eq!(status.as_u16(), 202, "cancel of {id}");
            }
        }
    }))
    .await;
}

async fn run(o: Options) {
    tokio::task::spawn_blocking(edp_tests::build::ensure_built).await.expect("build");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("edp tracking benchmark: {cores} cores, steps {:?}, {} s windows", o.steps, o.window.as_secs());

    let app = TestApp::builder().env("RUST_LOG", "warn").start().await;
    let body = edp_tests::bench::shell_job(&app, "sleep", "exec sleep 100000\n").await;

    // The ceiling: the same edpd tracking nothing (one job ran and ended,
    // so the engine and its supervisor are up).
    let warm = launch(&app, &body, 1).await;
    wait_count(&app, "RUNNING", 1, Duration::from_secs(60)).await;
    cancel_all(&app, &warm).await;
    wait_count(&app, "KILLED", 1, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut samples = vec![sample(&app, 0, o.window).await];
    println!("0 running: edpd {:.2}% of a core", samples[0].edpd_cpu);

    let mut ids: Vec<String> = Vec::new();
    for &step in &o.steps {
        let t0 = Instant::now();
        ids.extend(launch(&app, &body, step - ids.len()).await);
        wait_count(&app, "RUNNING", step, Duration::from_secs(600)).await;
        println!("{step} running after {:.1} s", t0.elapsed().as_secs_f64());
        // Let the launches' after-effects (first polls) pass.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let s = sample(&app, step, o.window).await;
        println!(
            "{step} running: edpd {:.2}% of a core, {:.0} MiB; supervisor {:.2}%, {:.0} MiB",
            s.edpd_cpu, s.edpd_rss, s.supervisor_cpu, s.supervisor_rss
        );
        samples.push(s);
    }

    let t0 = Instant::now();
    cancel_all(&app, &ids).await;
    wait_count(&app, "KILLED", ids.len() + 1, Duration::from_secs(900)).await;
    let cancelled = t0.elapsed();

    println!();
    println!("| running jobs | edpd CPU, % of a core | edpd RSS MiB | supervisor CPU % | supervisor RSS MiB |");
    println!("|---|---|---|---|---|");
    for s in &samples {
        println!(
            "| {} | {:.2} | {:.0} | {:.2} | {:.1} |",
            s.running, s.edpd_cpu, s.edpd_rss, s.supervisor_cpu, s.supervisor_rss
        );
    }
    println!("all {} cancelled and seen KILLED in {:.1} s", ids.len(), cancelled.as_secs_f64());
}
