//! edp's read benchmark (issue 16, part 2), each figure against a ceiling
//! or a target measured in the same run:
//!
//! - **GET /v2/jobs/{id} against GET /** on the same edpd: C keep-alive
//!   connections for S seconds each, alternated three times (root, job,
//!   root, job, ...), so a drift of the shared machine hits both alike;
//! - on Postgres, also against **Postgres alone**: pgbench's C connections
//!   each selecting the same jobs by id, one statement a read, with no
//!   edpd in between (alternated with the two above): what one statement
//!   a read costs this machine, whoever sends it;
//! - **list pages of 100 over 100,000 jobs**, one client, one request at a
//!   time: the first page (oldest first, Sahara's default order, and
//!   newest first), every page of the whole list walked by its `next`
//!   markers, and a status filter (9% and 1% of the rows).
//!
//! The 100,000 jobs are copies of one real finished Shell job, inserted in
//! one SQL statement (the `sqlite3` or `psql` client, so the benchmark
//! needs neither edp-core nor a driver); everything measured is read
//! through the HTTP API. The load generator is a minimal HTTP/1.1 client
//! on raw sockets (no pool, no parsing beyond the status and
//! Content-Length), so that it costs as little of the two shared cores as
//! it can, like wrk.
//!
//! `cargo run --release -p edp-tests --bin edp-reads -- --help` lists its options (written once, in
//! `options()`).
//! (`--postgres` uses a fresh database on EDP_TEST_PG_URL, dropped after.)

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use edp_tests::TestApp;
use edp_tests::bench::{PgDatabase, psql};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    jobs: u64,
    clients: usize,
    seconds: u64,
    postgres: bool,
}

fn options() -> Options {
    let mut o = Options { jobs: 100_000, clients: 32, seconds: 5, postgres: false };
    let mut args = edp_tests::bench::Args::new("edp-reads [--jobs N] [--clients C] [--seconds S] [--postgres]");
    while let Some(option) = args.next_option() {
        match option.as_str() {
            "--jobs" => o.jobs = args.value(&option),
            "--clients" => o.clients = args.value(&option),
            "--seconds" => o.seconds = args.value(&option),
            "--postgres" => o.postgres = true,
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

async fn run(o: Options) {
    tokio::task::spawn_blocking(edp_tests::build::ensure_built).await.expect("build");
    let pg = o.postgres.then(PgDatabase::create);
    let mut builder = TestApp::builder().env("RUST_LOG", "warn");
    if let Some(db) = &pg {
        builder = builder.env("EDP__DATABASE__URL", &db.url());
    }
    let app = builder.start().await;
    let database = if pg.is_some() { "Postgres" } else { "SQLite" };
    println!(
        "edp read benchmark: {} cores, {database}, {} jobs, {} clients, {} s runs; load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.jobs,
        o.clients,
        o.seconds,
        load_average()
    );

    let source = one_finished_job(&app).await;
    let started = Instant::now();
    let sqlite_file = app.data_dir().join("edp.sqlite");
    // The table's columns as the migrations left them, in order.
    let columns = match &pg {
        Some(db) => psql(
            &db.url(),
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'job_executions' \
             ORDER BY ordinal_position",
        ),
        None => sqlite(&sqlite_file, "SELECT name FROM pragma_table_info('job_executions')"),
    };
    let columns: Vec<&str> = columns.lines().map(str::trim).filter(|c| !c.is_empty()).collect();
    let sql = copies_sql(pg.is_some(), &columns, &source, o.jobs);
    match &pg {
        Some(db) => psql(&db.url(), &sql),
        None => sqlite(&sqlite_file, &sql),
    };
    println!("{} copies of job {source} inserted in {:.1} s", o.jobs, started.elapsed().as_secs_f64());
    let addr = app.base.strip_prefix("http://").expect("an http base").to_string();

    // What the finished jobs cost edpd when nothing happens: its scheduler
    // passes (at least one a second) must not read them.
    let edpd = app.pid().expect("edpd runs");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let quiet = Duration::from_secs(10);
    let cpu0 = edp_tests::bench::cpu_secs(edpd);
    tokio::time::sleep(quiet).await;
    let idle_cpu = 100.0 * (edp_tests::bench::cpu_secs(edpd) - cpu0) / quiet.as_secs_f64();
    println!("edpd idle beside {} finished jobs: {idle_cpu:.2}% of a core", o.jobs);

    // Correctness first: the walk must see every row once, in order.
    let mut conn = Conn::open(&addr).await;
    let (whole, seen) = walk(&mut conn, "/v2/jobs?limit=100").await;
    assert_eq!(seen, o.jobs + 1, "the walk saw {seen} jobs, not every one");

    // Throughput: the cheapest answer against a job, alternated.
    let job_paths: Vec<String> = (1..=1000u64.min(o.jobs)).map(|i| format!("/v2/jobs/{}", copy_id(i))).collect();
    let (mut root_rates, mut job_rates, mut alone_rates) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        root_rates.push(load(&addr, vec!["/".to_string()], o.clients, o.seconds, 300).await);
        job_rates.push(load(&addr, job_paths.clone(), o.clients, o.seconds, 200).await);
        if let Some(db) = &pg {
            let (url, clients, seconds, copies) = (db.url(), o.clients, o.seconds, job_paths.len());
            let rate = tokio::task::spawn_blocking(move || pgbench(&url, clients, seconds, copies));
            alone_rates.push(rate.await.expect("pgbench"));
        }
    }
    let root_rate = median(&mut root_rates);
    let job_rate = median(&mut job_rates);
    println!("GET /: {root_rates:.0?} req/s; GET /v2/jobs/{{id}}: {job_rates:.0?} req/s");
    if pg.is_some() {
        println!("Postgres alone (pgbench), a job by id: {alone_rates:.0?} statements/s");
    }

    // List latency, one request at a time.
    let first = repeat(&mut conn, "/v2/jobs?limit=100", 300).await;
    let newest = repeat(&mut conn, "/v2/jobs?limit=100&sort_by=-created_at", 300).await;
    let (failed_walk, failed) = walk(&mut conn, "/v2/jobs?limit=100&status=FAILED").await;
    let killed_first = repeat(&mut conn, "/v2/jobs?limit=100&status=KILLED", 300).await;
    let (_, killed) = walk(&mut conn, "/v2/jobs?limit=100&status=KILLED").await;
    let deep_marker = copy_id(o.jobs * 9 / 10);
    let deep = repeat(&mut conn, &format!("/v2/jobs?limit=100&marker={deep_marker}"), 300).await;

    println!();
    println!("load after: {}", load_average());
    println!("| measure ({database}, {} jobs) | figure | against (same run) | ratio / target |", o.jobs);
    println!("|---|---|---|---|");
    println!(
        "| GET /v2/jobs/{{id}}, {} connections | {job_rate:.0} req/s | GET / {root_rate:.0} req/s | {:.0}% (≥ 50%) |",
        o.clients,
        100.0 * job_rate / root_rate
    );
    if !alone_rates.is_empty() {
        let alone_rate = median(&mut alone_rates);
        println!(
            "| Postgres alone (pgbench), a job by id, {} connections | {alone_rate:.0} statements/s | GET /v2/jobs/{{id}} \
             {job_rate:.0} req/s | edpd {:.0}% of it |",
            o.clients,
            100.0 * job_rate / alone_rate
        );
    }
    println!("| edpd idle, {} finished jobs, over 10 s | {idle_cpu:.2}% of a core | | |", o.jobs);
    for (what, mut times) in [
        ("first page, `limit=100`".to_string(), first),
        ("first page, newest first (`sort_by=-created_at`)".to_string(), newest),
        (format!("every page in turn by `marker` ({} pages)", whole.len()), whole),
        ("a page at 90% (`marker`)".to_string(), deep),
        (format!("`status=FAILED`, every page ({failed} jobs, {} pages)", failed_walk.len()), failed_walk),
        (format!("`status=KILLED`, first page ({killed} jobs)"), killed_first),
    ] {
        let (p50, p99) = percentiles(&mut times);
        println!("| list: {what}, p50 / p99 | {p50:.2} / {p99:.2} ms | | p99 < 10 ms |");
    }
}

/// A Shell job launched and finished through the API: the row the copies
/// are made of.
async fn one_finished_job(app: &TestApp) -> String {
    let mut launch = edp_tests::bench::shell_job(app, "true", "true\n").await;
    launch["job_configs"] = json!({"configs": {"edp.bench": "yes"}, "params": {"SIZE": "100"}, "args": ["one", "two"]});
    let id = app.post("/v2/jobs", launch).await.expect(202)["job"]["id"].as_str().expect("id").to_string();
    edp_tests::eventually("the source job finishes", Duration::from_secs(30), || async {
        let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
        (job["job"]["status"] == "SUCCEEDED").then_some(())
    })
    .await;
    id
}

/// Statements a second from pgbench's `clients` connections (libpq, the
/// extended protocol, prepared) for `seconds`, each selecting every column
/// of one of copies 1..=`copies` by id: the copies the GETs read.
fn pgbench(url: &str, clients: usize, seconds: u64, copies: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("by-id.sql");
    std::fs::write(
        &script,
        format!(
            "\\set i random(1, {copies})\n\
             SELECT * FROM job_executions \
             WHERE id = lpad(to_hex(:i::int), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(:i::int), 12, '0');\n"
        ),
    )
    .expect("pgbench script");
    let out = Command::new("pgbench")
        .args(["--no-vacuum", "--protocol=prepared", "--jobs=2"])
        .arg(format!("--client={clients}"))
        .arg(format!("--time={seconds}"))
        .arg("--file")
        .arg(&script)
        .arg(url)
        .output()
        .expect("pgbench runs (Debian's postgresql package)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pgbench: {}", stderr.lines().next_back().unwrap_or_default());
    // "tps = 23766.876341 (without initial connection time)"
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's answer: {stdout}"))
}

/// The id of copy `i`: a well-formed lower-case UUID.
fn copy_id(i: u64) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

/// One INSERT making `n` copies of `source`: 90% SUCCEEDED, 9% FAILED, 1%
/// KILLED, created 10 ms apart in fours (ties broken by id), all before the
/// source, nothing due for the scheduler.
fn copies_sql(postgres: bool, columns: &[&str], source: &str, n: u64) -> String {
    let status = "CASE WHEN i % 100 = 0 THEN 'KILLED' WHEN i % 10 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END";
    let (series, id, info, time) = if postgres {
        (
            format!("generate_series(1, {n}) AS n(i)"),
            "lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0')".to_string(),
            format!("jsonb_set(s.info, '{{status}}', to_jsonb({status}))"),
            "to_timestamp(1700000000 + (i / 4) * 0.04)".to_string(),
        )
    } else {
        (
            "n".to_string(),
            "printf('%08x-0000-4000-8000-%012x', i, i)".to_string(),
            format!("json_set(s.info, '$.status', {status})"),
            // As sqlx writes times: RFC 3339, no fraction when it is zero.
            "strftime('%Y-%m-%dT%H:%M:%S', 1700000000 + i / 100, 'unixepoch') \
             || CASE WHEN (i / 4) % 25 = 0 THEN '' ELSE printf('.%03d', (i / 4) % 25 * 40) END || '+00:00'"
                .to_string(),
        )
    };
    let values: Vec<String> = columns
        .iter()
        .map(|c| match *c {
            "id" => id.clone(),
            "status" => status.to_string(),
            "info" => info.clone(),
            "created_at" | "updated_at" | "start_time" | "end_time" => time.clone(),
            "next_action_at" | "lease_owner" | "lease_token" | "lease_expires_at" => "NULL".to_string(),
            other => format!("s.{other}"),
        })
        .collect();
    let insert = format!(
        "INSERT INTO job_executions ({}) SELECT {} FROM {series}, job_executions s WHERE s.id = '{source}'",
        columns.join(", "),
        values.join(", ")
    );
    if postgres {
        format!("{insert}; ANALYZE job_executions;")
    } else {
        format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) {insert};")
    }
}

/// Runs `sql` with the sqlite3 client; what it printed.
fn sqlite(path: &std::path::Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(path)
        .args([".timeout 30000", sql])
        .output()
        .expect("the sqlite3 client runs (apt-get install sqlite3)");
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every page of `path`, following `next` markers: each page's latency and
/// how many jobs were seen (each id once, in order, checked).
async fn walk(conn: &mut Conn, path: &str) -> (Vec<Duration>, u64) {
    let (mut times, mut seen, mut marker) = (Vec::new(), 0u64, None::<String>);
    let mut last: Option<(String, String)> = None;
    loop {
        let url = match &marker {
            Some(m) => format!("{path}&marker={m}"),
            None => path.to_string(),
        };
        let t0 = Instant::now();
        let (status, body) = conn.get(&url).await;
        times.push(t0.elapsed());
        assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
        let page: Value = serde_json::from_slice(&body).expect("a JSON page");
        for job in page["jobs"].as_array().expect("jobs") {
            let key =
                (job["created_at"].as_str().unwrap_or("").to_string(), job["id"].as_str().unwrap_or("").to_string());
            assert!(last.as_ref().is_none_or(|l| *l < key), "out of order at {key:?} after {last:?}");
            last = Some(key);
            seen += 1;
        }
        match page["markers"]["next"].as_str() {
            Some(next) => marker = Some(next.to_string()),
            None => return (times, seen),
        }
    }
}

async fn repeat(conn: &mut Conn, path: &str, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let (status, body) = conn.get(path).await;
        times.push(t0.elapsed());
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    }
    times
}

/// `clients` connections GETting `paths` in turn for `seconds`, each
/// answer checked for `expected`: answers per second.
async fn load(addr: &str, paths: Vec<String>, clients: usize, seconds: u64, expected: u16) -> f64 {
    let paths = Arc::new(paths);
    edp_tests::bench::rate(clients, Duration::from_millis(300), seconds, |c, stop, done| {
        let (paths, addr) = (paths.clone(), addr.to_string());
        async move {
            let mut conn = Conn::open(&addr).await;
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let (status, _) = conn.get(&paths[i % paths.len()]).await;
                assert_eq!(status, expected, "{}", paths[i % paths.len()]);
                done.fetch_add(1, Ordering::Relaxed);
                i += clients;
            }
        }
    })
    .await
}

/// One keep-alive HTTP/1.1 connection, one request at a time.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream, buf: Vec::with_capacity(64 * 1024) }
    }

    /// The status and body of `GET path`.
    async fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: edp\r\nAccept: application/json\r\n\r\n");
        self.stream.write_all(request.as_bytes()).await.expect("send");
        self.buf.clear();
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).expect("a text head");
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).expect("a status line");
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("no Content-Length in {head}"));
        while self.buf.len() < head_end + length {
            self.fill().await;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        (status, body)
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.expect("receive");
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// p50 and p99 in milliseconds.
fn percentiles(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (pct(0.50), pct(0.99))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
