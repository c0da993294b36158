//! What the Spark tests share: a real Spark (pyspark from PyPI, set up by
//! scripts/setup-spark), a standalone master and worker owned by the test,
//! the real edpd with the real spark plugin, and the API calls a launch
//! takes.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use edp_tests::{TestApp, build, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Spark jobs start a JVM or three on 2 shared cores: minutes, not seconds.
pub const JOB_DEADLINE: Duration = Duration::from_secs(300);
pub const TERMINAL: &[&str] = &["SUCCEEDED", "FAILED", "KILLED", "DONEWITHERROR"];

pub use edp_tests::spark::{home as spark_home, python as spark_python};

/// Settings every Spark in these tests gets: loopback only (pitfall P1),
/// small memory, no UI ports (P15).
pub fn base_properties() -> Value {
    json!({
        "spark.driver.memory": "512m",
        "spark.executor.memory": "512m",
        "spark.cores.max": "1",
        "spark.ui.enabled": "false",
        "spark.pyspark.python": spark_python(),
    })
}

pub fn spark_env() -> Value {
    json!({"SPARK_LOCAL_IP": "127.0.0.1"})
}

/// edpd with the spark plugin (and the local one, and the supervisor),
/// polling Spark jobs often. A job the engine says it watches is polled
/// only hourly otherwise: an end that is neither hinted nor polled at the
/// engine's rhythm (a driver on a worker) outlasts every deadline here.
pub async fn start_app() -> TestApp {
    build::ensure_package_built("edp-engine-spark");
    let plugin = build::artifact(&format!("libedp_engine_spark.{}", std::env::consts::DLL_EXTENSION));
    TestApp::builder()
        .plugin(plugin)
        .env("EDP__ENGINES__SPARK__POLL_INITIAL_MS", "300")
        .env("EDP__ENGINES__SPARK__POLL_MAX_MS", "1500")
        .env("EDP__JOBS__FALLBACK_POLL_SECS", "3600")
        .start()
        .await
}

pub fn spark_job_dir(app: &TestApp, execution_id: &str) -> PathBuf {
    app.data_dir().join("engines/spark/jobs").join(execution_id)
}

// --- the API ------------------------------------------------------------------

/// `POST /v2/clusters` with the spark engine; the cluster as answered.
pub async fn register(app: &TestApp, name: &str, configs: Value) -> Value {
    let reply = app
        .post("/v2/clusters", json!({"name": name, "plugin_name": "spark", "cluster_configs": configs}))
        .await
        .expect(202);
    reply["cluster"].clone()
}

pub async fn active_cluster(app: &TestApp, name: &str, configs: Value) -> String {
    let cluster = register(app, name, configs).await;
    assert_eq!(cluster["status"], "Active", "cluster {name} is not usable: {cluster}");
    cluster["id"].as_str().expect("cluster id").to_string()
}

pub async fn binary(app: &TestApp, name: &str, content: &[u8]) -> String {
    app.upload_binary(name, content).await
}

/// A Spark template whose main is `name` with `content`.
pub async fn template(app: &TestApp, name: &str, content: &[u8]) -> String {
    let main = binary(app, name, content).await;
    let body = json!({"name": format!("t-{name}"), "type": "Spark", "mains": [main], "libs": []});
    app.post("/v2/job-templates", body).await.expect(202)["job_template"]["id"]
        .as_str()
        .expect("template id")
        .to_string()
}

pub async fn data_source(app: &TestApp, name: &str, url: &str) -> String {
    let body = json!({"name": name, "type": "file", "url": url});
    app.post("/v2/data-sources", body).await.expect(202)["data_source"]["id"]
        .as_str()
        .expect("data source id")
        .to_string()
}

/// `POST /v2/jobs`; `more` adds input_id / output_id.
pub fn job_body(template: &str, cluster: &str, job_configs: Value, more: Value) -> Value {
    let mut body = json!({"job_template_id": template, "cluster_id": cluster, "job_configs": job_configs});
    if let (Some(body), Some(more)) = (body.as_object_mut(), more.as_object()) {
        body.extend(more.clone());
    }
    body
}

pub async fn launch(app: &TestApp, body: &Value) -> String {
    let job = app.post("/v2/jobs", body.clone()).await.expect(202);
    job["job"]["id"].as_str().expect("job id").to_string()
}

pub async fn job(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v2/jobs/{id}")).await.expect(200)["job"].clone()
}

/// Waits until the job's status is one of `wanted`; returns the job.
/// Reaching another final status first fails at once.
pub async fn wait_for(app: &TestApp, id: &str, wanted: &[&str]) -> Value {
    eventually(&format!("job {id} to reach {wanted:?}"), JOB_DEADLINE, || async {
        let job = job(app, id).await;
        let status = job["info"]["status"].as_str().unwrap_or_default().to_string();
        if TERMINAL.contains(&status.as_str()) && !wanted.contains(&status.as_str()) {
            panic!("job {id} ended {status}, not {wanted:?}: {job}");
        }
        wanted.contains(&status.as_str()).then_some(job)
    })
    .await
}

/// The whole of one log stream.
pub async fn read_log(app: &TestApp, id: &str, stream: &str) -> String {
    app.read_log(id, stream).await
}

/// Waits until `needle` shows in a log stream of the job.
pub async fn wait_for_log(app: &TestApp, id: &str, stream: &str, needle: &str) -> String {
    eventually(&format!("`{needle}` in the {stream} of job {id}"), JOB_DEADLINE, || async {
        let status = job(app, id).await["info"]["status"].as_str().unwrap_or_default().to_string();
        assert!(!TERMINAL.contains(&status.as_str()), "job {id} ended {status} before printing `{needle}`");
        let text = read_log(app, id, stream).await;
        text.contains(needle).then_some(text)
    })
    .await
}

/// A dry run of `body`: its `dry_run` object.
pub async fn dry_run(app: &TestApp, body: &Value) -> Value {
    app.post("/v2/jobs/dry-run", body.clone()).await.expect(200)["dry_run"].clone()
}

/// `value` with every occurrence of one execution id replaced by another.
pub fn with_execution_id(value: &Value, from: &str, to: &str) -> Value {
    serde_json::from_str(&value.to_string().replace(from, to)).expect("JSON stays JSON")
}

pub async fn cancel(app: &TestApp, id: &str) {
    app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
}

// --- processes ----------------------------------------------------------------

/// `pid: command line` of every process whose command line holds `needle`.
pub fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) && pid.parse::<u32>().ok() != Some(std::process::id()) {
            found.push(format!("{pid}: {}", cmdline.chars().take(300).collect::<String>()));
        }
    }
    found
}

/// Waits until no process's command line holds `needle`.
pub async fn no_process_left(what: &str, needle: &str) {
    eventually(&format!("no {what} process left (`{needle}`)"), Duration::from_secs(30), || async {
        processes_with(needle).is_empty().then_some(())
    })
    .await;
}

// --- a standalone master and worker -----------------------------------------

/// A standalone master (REST server on) and one worker on loopback, on
/// free ports, as children of the test; stopped on drop whatever happens,
/// drivers and executors included.
pub struct Standalone {
    pub master_port: u16,
    pub rest_port: u16,
    pub ui_port: u16,
    worker_ui_port: u16,
    pub dir: tempfile::TempDir,
    master: Option<Child>,
    worker: Option<Child>,
}

impl Standalone {
    /// A master and a worker.
    pub async fn start() -> Self {
        let cluster = Self::master(None).await;
        cluster.with_worker().await
    }

    /// A master alone; with `jws_key`, its REST server takes only requests
    /// with a JWS signed by that key (Spark 4's `JWSFilter`).
    pub async fn master(jws_key: Option<&str>) -> Self {
        let home = spark_home();
        let dir = tempfile::Builder::new().prefix("edp-spark-").tempdir().expect("temp dir");
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).expect("conf dir");
        let [master_port, rest_port, ui_port, worker_ui_port] = free_ports();
        let mut defaults = format!(
            "spark.master.rest.enabled true\nspark.master.rest.host 127.0.0.1\nspark.master.rest.port {rest_port}\n"
        );
        if let Some(key) = jws_key {
            defaults.push_str(&format!(
                "spark.master.rest.filters org.apache.spark.ui.JWSFilter\n\
                 spark.org.apache.spark.ui.JWSFilter.param.secretKey {key}\n"
            ));
        }
        std::fs::write(conf.join("spark-defaults.conf"), defaults).expect("spark-defaults.conf");
        let mut cluster = Self { master_port, rest_port, ui_port, worker_ui_port, dir, master: None, worker: None };
        cluster.master = Some(cluster.daemon(
            &home,
            "master",
            &[
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                &master_port.to_string(),
                "--webui-port",
                &ui_port.to_string(),
            ],
        ));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
        // Ready when readyz says so; a filtered server, when it refuses an
        // unsigned request (it has no REST server at all on a bad key).
        let readyz = format!("{}/v1/submissions/readyz", cluster.rest_url());
        let ready = if jws_key.is_some() { StatusCode::FORBIDDEN } else { StatusCode::OK };
        eventually("the master's REST server to be ready", Duration::from_secs(120), || async {
            cluster.assert_alive();
            http.get(&readyz).send().await.is_ok_and(|r| r.status() == ready).then_some(())
        })
        .await;
        cluster
    }

    async fn with_worker(mut self) -> Self {
        let home = spark_home();
        let master_url = self.master_url();
        let worker_ui_port = self.worker_ui_port;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
        let work = self.dir.path().join("work");
        self.worker = Some(self.daemon(
            &home,
            "worker",
            &[
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--webui-port",
                &worker_ui_port.to_string(),
                // Drivers take worker cores too (pitfall P3).
                "--cores",
                "12",
                "--memory",
                "6g",
                "--work-dir",
                work.to_str().expect("utf-8 path"),
                &master_url,
            ],
        ));
        let state = format!("{}/json/", self.ui_url());
        eventually("the worker to register", Duration::from_secs(120), || async {
            self.assert_alive();
            let json: Value = http.get(&state).send().await.ok()?.json().await.ok()?;
            (json["aliveworkers"] == 1).then_some(())
        })
        .await;
        self
    }

    fn daemon(&self, home: &Path, name: &str, args: &[&str]) -> Child {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).expect("log file");
        Command::new(home.join("bin/spark-class"))
            .args(args)
            .env("SPARK_HOME", home)
            .env("SPARK_CONF_DIR", self.dir.path().join("conf"))
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .env("SPARK_DAEMON_MEMORY", "512m")
            .env("PYSPARK_PYTHON", spark_python())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            // A group of its own: the worker's drivers and executors are in
            // it, so that nothing of it survives the test.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {name}: {e}"))
    }

    fn assert_alive(&self) {
        for (name, child) in [("master", &self.master), ("worker", &self.worker)] {
            if let Some(child) = child {
                let alive = rustix::process::Pid::from_raw(child.id() as i32)
                    .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok());
                assert!(alive, "the {name} died; its log:\n{}", self.log(name));
            }
        }
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    pub fn master_url(&self) -> String {
        format!("spark://127.0.0.1:{}", self.master_port)
    }

    pub fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    pub fn ui_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ui_port)
    }

    /// The master's `/json/`.
    pub async fn state(&self) -> Value {
        reqwest::get(format!("{}/json/", self.ui_url())).await.expect("master /json/").json().await.expect("JSON")
    }

    /// SIGTERM (the worker ends its drivers and executors first), SIGKILL
    /// to the whole group after 20 s; worker before master.
    fn stop(child: &mut Child) {
        let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) else { return };
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in ["master", "worker"] {
                let log = self.log(name);
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!("--- {name} log (last lines) ---");
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        for child in [self.worker.as_mut(), self.master.as_mut()].into_iter().flatten() {
            Self::stop(child);
        }
    }
}

/// Four ports free now (bound at once, so distinct), for the master's RPC,
/// REST and UI ports and the worker's UI.
fn free_ports() -> [u16; 4] {
    let listeners: Vec<std::net::TcpListener> =
        (0..4).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
    let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().expect("address").port()).collect();
    [ports[0], ports[1], ports[2], ports[3]]
}

// --- the apps -------------------------------------------------------------------

/// Counts the words of argv[1], writes `word<TAB>count` lines to the
/// directory argv[2] (both URLs), and prints them.
pub const WORDCOUNT_PY: &str = r#"
import sys
from operator import add
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
counts = spark.sparkContext.textFile(sys.argv[1]).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(add)
counts.map(lambda wc: f"{wc[0]}\t{wc[1]}").saveAsTextFile(sys.argv[2])
for word, count in sorted(counts.collect()):
    print(f"{word}\t{count}")
spark.stop()
"#;

/// Fails after doing some work, with a recognisable message.
pub const FAILING_PY: &str = r#"
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
print("rows", spark.range(10).count(), flush=True)
raise RuntimeError("edp-spark-failure-marker: the app gave up")
"#;

/// Records each start in argv[1], says `ready` once Spark works, then
/// waits (in time.sleep, not in the JVM: pitfall P7) until argv[2] exists.
pub const WAITER_PY: &str = r#"
import os, sys, time
from pyspark.sql import SparkSession

with open(sys.argv[1], "a") as starts:
    starts.write("started\n")
spark = SparkSession.builder.getOrCreate()
print("rows", spark.range(100).count(), flush=True)
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.2)
print("released", flush=True)
spark.stop()
"#;

const SMOKE_JAVA: &str = r#"
package edp;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

public final class Smoke {
  public static void main(String[] args) throws Exception {
    int n = Integer.parseInt(args[0]);
    try (JavaSparkContext sc = new JavaSparkContext(new SparkConf())) {
      List<Integer> numbers = new ArrayList<>();
      for (int i = 1; i <= n; i++) numbers.add(i);
      long sum = sc.parallelize(numbers, 2).map(i -> (long) i).reduce(Long::sum);
      System.out.println("sum of 1.." + n + " is " + sum);
      if (args.length > 1) throw new IllegalStateException(args[1]);
    }
  }
}
"#;

/// `edp.Smoke`, compiled against `$SPARK_HOME/jars`: `Smoke N` prints the
/// sum of 1..N computed by Spark; `Smoke N message` then fails with it.
pub fn smoke_jar(dir: &Path) -> Vec<u8> {
    let home = spark_home();
    let src = dir.join("src/edp");
    std::fs::create_dir_all(&src).expect("src dir");
    std::fs::write(src.join("Smoke.java"), SMOKE_JAVA).expect("write Smoke.java");
    let classes = dir.join("classes");
    let classpath = format!("{}/jars/*", home.display());
    let javac = Command::new("javac")
        .args(["--release", "17", "-cp", &classpath, "-d"])
        .arg(&classes)
        .arg(src.join("Smoke.java"))
        .output()
        .expect("javac runs (scripts/setup-spark installs a JDK)");
    assert!(javac.status.success(), "javac failed: {}", String::from_utf8_lossy(&javac.stderr));
    let jar = dir.join("smoke.jar");
    let packed = Command::new("jar").arg("cf").arg(&jar).arg("-C").arg(&classes).arg(".").output().expect("jar runs");
    assert!(packed.status.success(), "jar failed: {}", String::from_utf8_lossy(&packed.stderr));
    std::fs::read(&jar).expect("the jar")
}
