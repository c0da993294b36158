//! What the benchmark programs (`src/bin/`) share: a Shell job set up
//! through the API on the declared `local` cluster, and many launches of it
//! from concurrent clients; what a process has used; their command lines.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::TestApp;

/// Uploads `script` as `<name>.sh`, makes a Shell template of it and
/// answers the body of a launch of it on the `local` cluster.
pub async fn shell_job(app: &TestApp, name: &str, script: &str) -> Value {
    let cluster =
        app.get("/v2/clusters?name=local").await.expect(200)["clusters"][0]["id"].as_str().expect("local").to_string();
    let file = format!("{name}.sh");
    let path = format!("/v2/job-binary-internals/{file}");
    let internal = app.send_raw(reqwest::Method::PUT, &path, script.as_bytes().to_vec()).await.expect(202);
    let url = format!("internal-db://{}", internal["job_binary_internal"]["id"].as_str().expect("id"));
    let binary = app.post("/v2/job-binaries", json!({"name": file, "url": url})).await.expect(202);
    let template = app
        .post("/v2/job-templates", json!({"name": name, "type": "Shell", "mains": [binary["job_binary"]["id"]]}))
        .await
        .expect(202);
    json!({"job_template_id": template["job_template"]["id"], "cluster_id": cluster})
}

/// Posts `n` launches of `body` from `clients` concurrent clients; the new
/// jobs' ids.
pub async fn launch_many(app: &TestApp, body: &Value, n: usize, clients: usize) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    join_all((0..clients).map(|_| {
        let (http, base, body, next) = (app.http.clone(), app.base.clone(), body.clone(), next.clone());
        async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                ids.push(post_job(&http, &base, &body).await);
            }
            ids
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Posts one launch of `body` to the edpd at `base`; the new job's id.
pub async fn post_job(http: &reqwest::Client, base: &str, body: &Value) -> String {
    let reply: Value =
        http.post(format!("{base}/v2/jobs")).json(body).send().await.expect("post").json().await.expect("json");
    reply["job"]["id"].as_str().unwrap_or_else(|| panic!("a job id: {reply}")).to_string()
}

/// Runs `clients` workers (each given its number, a flag telling it to stop
/// and a counter of what it has done) and answers what they did per second
/// over `seconds`, counted after `warm_up`; then stops them.
pub async fn rate<W, F>(clients: usize, warm_up: Duration, seconds: u64, worker: W) -> f64
where
    W: Fn(usize, Arc<AtomicBool>, Arc<AtomicU64>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..clients).map(|c| tokio::spawn(worker(c, stop.clone(), done.clone()))).collect();
    tokio::time::sleep(warm_up).await;
    let before = done.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let count = done.load(Ordering::Relaxed) - before;
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    join_all(workers).await;
    count as f64 / elapsed.as_secs_f64()
}

/// CPU seconds (user + system) a process has used, from /proc (in clock
/// ticks of 1/100 s: USER_HZ is 100 on Linux whatever the kernel's HZ).
pub fn cpu_secs(pid: u32) -> f64 {
    cpu_secs_in(&std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process's stat"))
}

/// The CPU seconds in the text of a `/proc/.../stat`.
fn cpu_secs_in(stat: &str) -> f64 {
    // Fields after the command name, which may hold spaces: state is 3rd.
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The context switches (voluntary and not) of every thread a process has
/// now, from /proc. Each is a thread handing work to another and waiting
/// for it, or being preempted: a count the machine's speed does not move
/// as much as it moves CPU time.
pub fn context_switches(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process's threads");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .map(|s| switches_in(&s))
        .sum()
}

/// The context switches in the text of a `/proc/.../status`.
fn switches_in(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|l| l.strip_prefix("voluntary_ctxt_switches:").or(l.strip_prefix("nonvoluntary_ctxt_switches:")))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum()
}

/// What one kind of thread (threads of one name, summed) has used so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ThreadUse {
    /// Context switches, voluntary and not.
    pub switches: u64,
    /// CPU seconds, user and system.
    pub cpu_secs: f64,
}

/// What each kind of thread of a process has used, by thread name (tokio's
/// workers share one name, so they are summed). Threads that ended since are
/// not counted: compare two of these over a span the threads outlive.
pub fn threads(pid: u32) -> std::collections::BTreeMap<String, ThreadUse> {
    let mut by_name = std::collections::BTreeMap::<String, ThreadUse>::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process's threads");
    for task in tasks.filter_map(Result::ok) {
        // A thread may end between the listing and the reads.
        let (Ok(name), Ok(status), Ok(stat)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("status")),
            std::fs::read_to_string(task.path().join("stat")),
        ) else {
            continue;
        };
        let used = by_name.entry(name.trim().to_string()).or_default();
        used.switches += switches_in(&status);
        used.cpu_secs += cpu_secs_in(&stat);
    }
    by_name
}

/// A file's size sampled every 100 ms on a task of its own (0 while the
/// file is absent), until [`SizeSampler::stop`].
pub struct SizeSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<u64>>,
}

/// What a [`SizeSampler`] saw.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub peak: u64,
    pub mean: u64,
    pub samples: usize,
}

impl SizeSampler {
    pub fn start(path: std::path::PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut sizes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    sizes.push(std::fs::metadata(&path).map_or(0, |m| m.len()));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                sizes
            }
        });
        Self { stop, task }
    }

    pub async fn stop(self) -> Sizes {
        self.stop.store(true, Ordering::Relaxed);
        let sizes = self.task.await.expect("the sampler");
        let samples = sizes.len();
        Sizes {
            peak: sizes.iter().copied().max().unwrap_or(0),
            mean: sizes.iter().sum::<u64>() / samples.max(1) as u64,
            samples,
        }
    }
}

pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// Runs `sql` on `url` with psql; its output.
pub fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh database on EDP_TEST_PG_URL's server, dropped when it goes.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let admin_url = std::env::var("EDP_TEST_PG_URL").expect("--postgres needs EDP_TEST_PG_URL");
        let name = format!("edp_bench_{}", uuid::Uuid::new_v4().simple());
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        Self { admin_url, name }
    }

    pub fn url(&self) -> String {
        let (base, _) = self.admin_url.rsplit_once('/').expect("a database URL ends in /<database>");
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .arg(&self.admin_url)
            .args(["-c", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
    }
}

/// A benchmark program's command line. `--help` prints its usage and exits;
/// a wrong option prints what is wrong and the usage, and exits 2 (no
/// panic and backtrace for a typo).
pub struct Args {
    usage: &'static str,
    args: std::iter::Skip<std::env::Args>,
}

impl Args {
    /// `usage`: the options, as in the program's doc comment.
    pub fn new(usage: &'static str) -> Self {
        Self { usage, args: std::env::args().skip(1) }
    }

    /// The next option, if any.
    pub fn next_option(&mut self) -> Option<String> {
        let option = self.args.next()?;
        if option == "--help" || option == "-h" {
            println!("usage: {}", self.usage);
            std::process::exit(0);
        }
        Some(option)
    }

    /// The value after `option`, parsed.
    pub fn value<T: std::str::FromStr>(&mut self, option: &str) -> T {
        match self.args.next().map(|v| v.parse::<T>()) {
            Some(Ok(value)) => value,
            Some(Err(_)) => self.wrong(&format!("{option}: not a valid value")),
            None => self.wrong(&format!("{option} needs a value")),
        }
    }

    /// The comma-separated values after `option`, parsed.
    pub fn list<T: std::str::FromStr>(&mut self, option: &str) -> Vec<T> {
        let values: String = self.value(option);
        match values.split(',').map(str::parse).collect() {
            Ok(values) => values,
            Err(_) => self.wrong(&format!("{option}: values separated by commas")),
        }
    }

    /// Says what is wrong, and how to call the program; exits 2.
    pub fn wrong(&self, problem: &str) -> ! {
        eprintln!("{problem}\nusage: {}", self.usage);
        std::process::exit(2);
    }
}
