//! Whether a queue's depth slows its jobs: launches drained through a
//! cluster with a job limit, with a few hundred jobs waiting behind the
//! limit (the ceiling, measured in the same run) and with tens of
//! thousands.
//!
//! Each step starts a fresh edpd (release build; SQLite, or with
//! `--postgres` a fresh database on EDP_TEST_PG_URL's server) with a local
//! cluster limited to `--limit` jobs at once, fills its slots with jobs
//! that sleep, queues that step's backlog of Shell jobs running `true` (the
//! first `--measured` of them posted one at a time, so that they are the
//! head of the queue, the rest by 16 clients), waits for the queue to
//! settle, then cancels the sleepers and times the head of the queue
//! through: from the first queued job's end to the `--measured`-th's,
//! edpd's CPU a launch over the same span, and edpd's CPU while the
//! backlog waited for slots.
//!
//! With `--project`, the limit is the project's (`[auth]
//! max_concurrent_jobs_per_project`) and the cluster has none.
//!
//! `cargo run --release -p edp-tests --bin edp-backlog -- --help` lists its options (written once, in
//! `options()`).

use std::time::{Duration, Instant};

use edp_tests::TestApp;
use edp_tests::bench::cpu_secs;
use serde_json::{Value, json};

const CLIENTS: usize = 16;
const USAGE: &str = "edp-backlog [--steps 500,20000] [--measured N] [--limit L] [--project] [--postgres]";

/// Whose limit the queue waits behind.
#[derive(Clone, Copy, Debug)]
enum LimitOf {
    Cluster,
    Project,
}

struct Options {
    steps: Vec<usize>,
    measured: usize,
    limit: u32,
    limit_of: LimitOf,
    postgres: bool,
}

fn options() -> Options {
    let mut o =
        Options { steps: vec![500, 20000], measured: 400, limit: 2, limit_of: LimitOf::Cluster, postgres: false };
    let mut args = edp_tests::bench::Args::new(USAGE);
    while let Some(option) = args.next_option() {
        match option.as_str() {
            "--steps" => o.steps = args.list(&option),
            "--measured" => o.measured = args.value(&option),
            "--limit" => o.limit = args.value(&option),
            "--project" => o.limit_of = LimitOf::Project,
            "--postgres" => o.postgres = true,
            other => args.wrong(&format!("unknown option {other}")),
        }
    }
    if o.measured < 2 || o.steps.iter().any(|&s| s < o.measured) || o.limit == 0 {
        args.wrong("--measured must be at least 2 and no step smaller than it; --limit at least 1");
    }
    o
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run(o));
}

/// What one step measured.
struct Step {
    backlog: usize,
    posts_per_sec: f64,
    waiting_cpu: f64,
    drained_per_sec: f64,
    cpu_per_launch: f64,
}

async fn run(o: Options) {
    tokio::task::spawn_blocking(edp_tests::build::ensure_built).await.expect("build");
    println!(
        "edp backlog benchmark: {} cores, backlogs {:?}, the first {} timed, {:?} limit {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.steps,
        o.measured,
        o.limit_of,
        o.limit,
        if o.postgres { "Postgres" } else { "SQLite" }
    );
    let mut steps = Vec::new();
    for &backlog in &o.steps {
        let step = step(&o, backlog).await;
        println!(
            "backlog {}: posted at {:.0}/s; edpd {:.2}% of a core while it waited; the head drained at {:.0} \
             launches/s, {:.0} µs of edpd's CPU a launch",
            step.backlog, step.posts_per_sec, step.waiting_cpu, step.drained_per_sec, step.cpu_per_launch
        );
        steps.push(step);
    }
    let ceiling = &steps[0];
    println!();
    println!("| jobs waiting | posted/s | edpd CPU while waiting | drained launches/s (ratio) | edpd CPU a launch |");
    println!("|---|---|---|---|---|");
    for s in &steps {
        println!(
            "| {} | {:.0} | {:.2}% | {:.0} ({:.0}%) | {:.0} µs |",
            s.backlog,
            s.posts_per_sec,
            s.waiting_cpu,
            s.drained_per_sec,
            100.0 * s.drained_per_sec / ceiling.drained_per_sec,
            s.cpu_per_launch
        );
    }
}

async fn step(o: &Options, backlog: usize) -> Step {
    let pg = o.postgres.then(edp_tests::bench::PgDatabase::create);
    let mut builder = TestApp::builder().env("RUST_LOG", "warn");
    if let Some(db) = &pg {
        builder = builder.env("EDP__DATABASE__URL", &db.url());
    }
    let mut body = json!({"name": "queue", "plugin_name": "local"});
    match o.limit_of {
        LimitOf::Cluster => body["max_concurrent_jobs"] = o.limit.into(),
        LimitOf::Project => {
            builder = builder.env("EDP__AUTH__MAX_CONCURRENT_JOBS_PER_PROJECT", &o.limit.to_string());
        }
    }
    let app = builder.start().await;
    let edpd = app.pid().expect("edpd runs");

    let cluster = app.post("/v2/clusters", body).await.expect(202)["cluster"]["id"].clone();
    let on_queue = |mut launch: Value| {
        launch["cluster_id"] = cluster.clone();
        launch
    };
    let sleeper = on_queue(edp_tests::bench::shell_job(&app, "sleep", "exec sleep 100000\n").await);
    let quick = on_queue(edp_tests::bench::shell_job(&app, "true", "true\n").await);

    let sleepers = edp_tests::bench::launch_many(&app, &sleeper, o.limit as usize, 1).await;
    for id in &sleepers {
        wait_status(&app, id, "RUNNING", Duration::from_secs(60)).await;
    }
    let t0 = Instant::now();
    let head = edp_tests::bench::launch_many(&app, &quick, o.measured, 1).await;
    edp_tests::bench::launch_many(&app, &quick, backlog - o.measured, CLIENTS).await;
    let posts_per_sec = backlog as f64 / t0.elapsed().as_secs_f64();
    // Settled: a pass has seen the queue waiting, and a moment after.
    wait_reason(&app, &head[0], Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, t0) = (cpu_secs(edpd), Instant::now());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let waiting_cpu = 100.0 * (cpu_secs(edpd) - cpu0) / t0.elapsed().as_secs_f64();

    println!("backlog {backlog}: queued; cancelling the jobs holding the slots (edpd {edpd})");
    for id in &sleepers {
        app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    }
    wait_status(&app, &head[0], "SUCCEEDED", Duration::from_secs(60)).await;
    let (cpu0, t0) = (cpu_secs(edpd), Instant::now());
    wait_status(&app, &head[o.measured - 1], "SUCCEEDED", Duration::from_secs(900)).await;
    let drained = (o.measured - 1) as f64;
    let drained_per_sec = drained / t0.elapsed().as_secs_f64();
    let cpu_per_launch = 1e6 * (cpu_secs(edpd) - cpu0) / drained;
    Step { backlog, posts_per_sec, waiting_cpu, drained_per_sec, cpu_per_launch }
}

/// Polls the job every 2 ms until it has `status`.
async fn wait_status(app: &TestApp, id: &str, status: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
        if job["job"]["status"] == status {
            return;
        }
        assert!(Instant::now() < deadline, "job {id} not {status} within {within:?}: {job}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until a pass has told the queued job why it waits.
async fn wait_reason(app: &TestApp, id: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
        if job["job"]["info"]["reason"].as_str().is_some_and(|r| r.starts_with("waiting for a slot")) {
            return;
        }
        assert!(Instant::now() < deadline, "job {id} not told it waits within {within:?}: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
