//! edp's launch and read benchmark, with its ceilings measured in the same
//! run on the same machine:
//!
//! - launch ceiling: the benchmark's Shell job run by its own bare recipe,
//!   on two threads: job directory, two log files, own process group,
//!   posix_spawn of `/bin/sh job.sh` (`true`), wait, exit file;
//! - spawn ceiling: spawn+wait of `/bin/true`, each with its own directory,
//!   two log files and its own process group, on two threads;
//! - HTTP ceiling: a hello-world axum endpoint in its own process;
//! - edpd (release build, SQLite or with `--postgres` a fresh database on
//!   EDP_TEST_PG_URL's server, the local engine):
//!   launches/s of a Shell job running `true`, edpd's CPU and context
//!   switches a launch (in all and by thread name), SQLite's log file's
//!   size during the launches, POST → SUCCEEDED-visible latency (p50/p99),
//!   and GET /v2/jobs/{id} requests/s.
//!
//! The load generator is this process (reqwest), on the same two cores as
//! the server: it costs both servers alike, so compare the ratios.
//!
//! `cargo run --release -p edp-tests --bin edp-bench -- --help` lists its options (written once, in
//! `options()`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edp_tests::TestApp;
use futures::future::join_all;
use serde_json::Value;

struct Options {
    jobs: usize,
    clients: usize,
    seconds: u64,
    latency_jobs: usize,
    postgres: bool,
}

fn options() -> Options {
    let mut o = Options { jobs: 3000, clients: 32, seconds: 10, latency_jobs: 400, postgres: false };
    let mut args =
        edp_tests::bench::Args::new("edp-bench [--jobs N] [--clients C] [--seconds S] [--latency-jobs N] [--postgres]");
    while let Some(option) = args.next_option() {
        match option.as_str() {
            "--postgres" => o.postgres = true,
            "--jobs" => o.jobs = args.value(&option),
            "--clients" => o.clients = args.value(&option),
            "--seconds" => o.seconds = args.value(&option),
            "--latency-jobs" => o.latency_jobs = args.value(&option),
            other => args.wrong(&format!("unknown option {other}")),
        }
    }
    o
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--serve-hello") {
        return serve_hello();
    }
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run(o));
}

async fn run(o: Options) {
    // Build edpd and the plugins first, so no compiler runs while measuring.
    tokio::task::spawn_blocking(edp_tests::build::ensure_built).await.expect("build");
    println!(
        "edp benchmark: {} cores, {} jobs, {} clients, {} s read runs",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.jobs,
        o.clients,
        o.seconds
    );

    let scratch = tempfile::Builder::new().prefix("edp-bench-").tempdir().expect("temp dir");
    let spawn_rate = tokio::task::spawn_blocking({
        let dir = scratch.path().to_path_buf();
        let n = o.jobs;
        move || spawn_ceiling(&dir, n)
    })
    .await
    .expect("spawn ceiling");
    println!("spawn ceiling: {spawn_rate:.0} spawns/s");
    let recipe_rate = tokio::task::spawn_blocking({
        let dir = scratch.path().to_path_buf();
        let n = o.jobs;
        move || recipe_ceiling(&dir, n)
    })
    .await
    .expect("recipe ceiling");
    println!("Shell job recipe ceiling: {recipe_rate:.0} jobs/s");

    let hello_rate = hello_ceiling(o.clients, o.seconds).await;
    println!("hello-world axum: {hello_rate:.0} req/s");

    let pg = o.postgres.then(edp_tests::bench::PgDatabase::create);
    let mut builder = TestApp::builder().env("RUST_LOG", "warn");
    if let Some(db) = &pg {
        builder = builder.env("EDP__DATABASE__URL", &db.url());
    }
    let app = builder.start().await;
    println!("edpd on {}", if pg.is_some() { "Postgres" } else { "SQLite" });
    let launch = edp_tests::bench::shell_job(&app, "true", "true\n").await;

    // Launch throughput: every job posted, then all seen finished.
    let edpd = app.pid().expect("edpd runs");
    let edpd_cpu = edp_tests::bench::cpu_secs(edpd);
    let edpd_switches = edp_tests::bench::context_switches(edpd);
    let threads_before = edp_tests::bench::threads(edpd);
    let wal = app.data_dir().join("edp.sqlite-wal");
    let wal_sampler = pg.is_none().then(|| edp_tests::bench::SizeSampler::start(wal.clone()));
    let started = Instant::now();
    let ids = edp_tests::bench::launch_many(&app, &launch, o.jobs, o.clients).await;
    let posted = started.elapsed();
    loop {
        let active = app.get("/v2/jobs?status=PENDING,PREP,RUNNING,TOBEKILLED&limit=1").await.expect(200);
        if active["jobs"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let finished = started.elapsed();
    let edpd_cpu_per_launch = (edp_tests::bench::cpu_secs(edpd) - edpd_cpu) / o.jobs as f64;
    let switches_per_launch = (edp_tests::bench::context_switches(edpd) - edpd_switches) as f64 / o.jobs as f64;
    let threads_after = edp_tests::bench::threads(edpd);
    let wal_during = match wal_sampler {
        Some(sampler) => Some(sampler.stop().await),
        None => None,
    };
    let failed = app.get("/v2/jobs?status=FAILED,KILLED&limit=1").await.expect(200);
    assert!(failed["jobs"].as_array().is_some_and(Vec::is_empty), "some benchmark jobs failed: {failed}");
    let launch_rate = ids.len() as f64 / finished.as_secs_f64();
    println!(
        "edpd launches: {} jobs posted in {:.2} s ({:.0}/s), all SUCCEEDED after {:.2} s: {launch_rate:.0} launches/s",
        ids.len(),
        posted.as_secs_f64(),
        ids.len() as f64 / posted.as_secs_f64(),
        finished.as_secs_f64()
    );
    println!(
        "edpd's own CPU (not the supervisor's, nor the jobs'), launches and the list polls included: {:.0} µs a launch",
        edpd_cpu_per_launch * 1e6
    );
    println!("edpd's context switches (its threads'), the same way: {switches_per_launch:.1} a launch");
    print_threads(&threads_before, &threads_after, o.jobs);

    // Latency: one client posting a job and polling it until it is
    // SUCCEEDED, one job after another (low load); then four at once.
    let (alone50, alone99) = latency(&app, &launch, 1, o.latency_jobs).await;
    let (p50, p99) = latency(&app, &launch, 4, o.latency_jobs).await;

    if let Some(during) = wal_during {
        let after = std::fs::metadata(&wal).map_or(0, |m| m.len());
        println!(
            "SQLite's log file during the launches: peak {:.1} MB, mean {:.1} MB ({} samples, every 0.1 s); after the latency runs {:.1} MB",
            mb(during.peak),
            mb(during.mean),
            during.samples,
            mb(after)
        );
    }

    let urls: Vec<String> = ids.iter().take(1000).map(|id| format!("{}/v2/jobs/{id}", app.base)).collect();
    let read_rate = load(urls, o.clients, o.seconds).await;
    println!("GET /v2/jobs/{{id}}: {read_rate:.0} req/s");

    println!();
    println!("| measure | figure | ceiling | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| launches/s (Shell `true`, POST → SUCCEEDED) | {launch_rate:.0} | {recipe_rate:.0} jobs/s by the job's own recipe | {:.0}% |",
        100.0 * launch_rate / recipe_rate
    );
    println!(
        "| (the same against spawn+wait of `/bin/true`) | {launch_rate:.0} | {spawn_rate:.0} spawns/s | {:.0}% |",
        100.0 * launch_rate / spawn_rate
    );
    println!(
        "| edpd's own CPU a launch (POST → SUCCEEDED, the client's list polls included) | {:.0} µs | | |",
        edpd_cpu_per_launch * 1e6
    );
    println!("| edpd's context switches a launch (its threads', the same way) | {switches_per_launch:.1} | | |");
    println!(
        "| GET /v2/jobs/{{id}} req/s | {read_rate:.0} | {hello_rate:.0} hello-world req/s | {:.0}% |",
        100.0 * read_rate / hello_rate
    );
    println!("| POST → SUCCEEDED visible, one client, p50 / p99 | {:.1} / {:.1} ms | | |", ms(alone50), ms(alone99));
    println!("| POST → SUCCEEDED visible, 4 clients, p50 / p99 | {:.1} / {:.1} ms | | |", ms(p50), ms(p99));
}

/// POST → SUCCEEDED seen by `GET /v2/jobs/{id}` polled every millisecond,
/// `clients` at once, `jobs` in all: p50 and p99.
async fn latency(app: &TestApp, launch: &Value, clients: usize, jobs: usize) -> (Duration, Duration) {
    let per_client = jobs / clients;
    let mut latencies: Vec<Duration> = join_all((0..clients).map(|_| {
        let (http, base, launch) = (app.http.clone(), app.base.clone(), launch.clone());
        async move {
            let mut seen = Vec::new();
            for _ in 0..per_client {
                let t0 = Instant::now();
                let id = edp_tests::bench::post_job(&http, &base, &launch).await;
                loop {
                    let job: Value =
                        http.get(format!("{base}/v2/jobs/{id}")).send().await.expect("get").json().await.expect("json");
                    if job["job"]["info"]["status"] == "SUCCEEDED" {
                        break;
                    }
                    assert!(t0.elapsed() < Duration::from_secs(30), "job {id} never finished: {job}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                seen.push(t0.elapsed());
            }
            seen
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let (p50, p99) = (pct(0.50), pct(0.99));
    println!(
        "POST → SUCCEEDED visible ({} jobs, {clients} client(s)): p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        ms(p50),
        ms(p99)
    );
    (p50, p99)
}

/// edpd's threads by name over the launches: the switches and CPU of each
/// kind a launch, most switches first. CPU is counted in 10 ms ticks, so a
/// thread's figure is only as fine as 10 ms over all the launches.
fn print_threads(
    before: &BTreeMap<String, edp_tests::bench::ThreadUse>,
    after: &BTreeMap<String, edp_tests::bench::ThreadUse>,
    launches: usize,
) {
    let n = launches as f64;
    let mut rows: Vec<(&str, f64, f64)> = after
        .iter()
        .map(|(name, now)| {
            let was = before.get(name).copied().unwrap_or_default();
            (
                name.as_str(),
                now.switches.saturating_sub(was.switches) as f64 / n,
                (now.cpu_secs - was.cpu_secs).max(0.0) * 1e6 / n,
            )
        })
        .filter(|&(_, switches, cpu)| switches > 0.0 || cpu > 0.0)
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "edpd's threads by name over the launches (threads of one name summed; threads that ended are not counted):"
    );
    for (name, switches, cpu) in &rows {
        println!("  {name:24} {switches:6.1} switches  {cpu:6.0} µs CPU a launch");
    }
    let (switches, cpu) = rows.iter().fold((0.0, 0.0), |(s, c), r| (s + r.1, c + r.2));
    println!("  {:24} {switches:6.1} switches  {cpu:6.0} µs CPU a launch", "(these together)");
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// spawn+wait of /bin/true, each with its own directory, two log files
/// and its own process group, on two threads: what a local launch costs at
/// the least.
fn spawn_ceiling(dir: &Path, n: usize) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2 {
            s.spawn(move || {
                for i in (t..n).step_by(2) {
                    let job = dir.join(format!("spawn-{i}"));
                    std::fs::create_dir(&job).expect("job dir");
                    let out = std::fs::File::create(job.join("stdout")).expect("stdout");
                    let err = std::fs::File::create(job.join("stderr")).expect("stderr");
                    let status = std::os::unix::process::CommandExt::process_group(&mut Command::new("/bin/true"), 0)
                        .stdin(Stdio::null())
                        .stdout(out)
                        .stderr(err)
                        .status()
                        .expect("spawn");
                    assert!(status.success());
                }
            });
        }
    });
    n as f64 / start.elapsed().as_secs_f64()
}

/// The benchmark's Shell job (`true`) by its own bare recipe, on two
/// threads: job directory, two log files, own process group, posix_spawn
/// of `/bin/sh job.sh`, wait, exit file. What a launch costs without edp.
fn recipe_ceiling(dir: &Path, n: usize) -> f64 {
    use std::io::Write as _;
    let script = dir.join("true.sh");
    std::fs::write(&script, "true\n").expect("script");
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2 {
            let script = &script;
            s.spawn(move || {
                for i in (t..n).step_by(2) {
                    let job = dir.join(format!("recipe-{i}"));
                    std::fs::create_dir(&job).expect("job dir");
                    let out = std::fs::File::create(job.join("stdout")).expect("stdout");
                    let err = std::fs::File::create(job.join("stderr")).expect("stderr");
                    let status = std::os::unix::process::CommandExt::process_group(&mut Command::new("/bin/sh"), 0)
                        .arg(script)
                        .current_dir(&job)
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

/// A hello-world axum server in its own process, loaded like edpd.
async fn hello_ceiling(clients: usize, seconds: u64) -> f64 {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--serve-hello")
        .stdout(Stdio::piped())
        .spawn()
        .expect("hello server");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut line)
        .expect("port line");
    let url = format!("http://{}/hello", line.trim());
    let rate = load(vec![url], clients, seconds).await;
    let _ = child.kill();
    let _ = child.wait();
    rate
}

fn serve_hello() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", listener.local_addr().expect("addr"));
        axum::serve(listener, app).await.expect("serve");
    });
}

/// `clients` keep-alive clients GETting `urls` in turn for `seconds`.
async fn load(urls: Vec<String>, clients: usize, seconds: u64) -> f64 {
    let urls = Arc::new(urls);
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().expect("client");
    edp_tests::bench::rate(clients, Duration::from_millis(500), seconds, |c, stop, done| {
        let (urls, http) = (urls.clone(), http.clone());
        async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let reply = http.get(&urls[i % urls.len()]).send().await.expect("get");
                assert!(reply.status().is_success(), "{}", reply.status());
                reply.bytes().await.expect("body");
                done.fetch_add(1, Ordering::Relaxed);
                i += clients;
            }
        }
    })
    .await
}
