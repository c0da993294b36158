//! A real `edpd` process for one test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::build;

/// An HTTP answer: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The Sahara error name, for error replies.
    pub fn error_name(&self) -> &str {
        self.body["error_name"].as_str().unwrap_or("")
    }

    /// Panics with the body when the status is not `expected`.
    #[track_caller]
    pub fn expect(self, expected: u16) -> Value {
        assert_eq!(self.status, expected, "unexpected reply: {}", self.body);
        self.body
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub root: TempDir,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

/// How to start an app: which plugins, which settings.
pub struct Builder {
    plugins: Vec<(PathBuf, String)>,
    files: Vec<(String, Vec<u8>)>,
    root_files: Vec<(String, Vec<u8>)>,
    env: Vec<(String, String)>,
}

impl Default for Builder {
    /// The real local engine, its supervisor and its MapReduce runner.
    fn default() -> Self {
        Self { plugins: Vec::new(), files: Vec::new(), root_files: Vec::new(), env: Vec::new() }
            .plugin(build::engine_plugin("local"))
            .plugin(build::supervisor())
            .plugin(build::mapreduce_runner())
    }
}

impl Builder {
    /// Copies a file into the plugin directory under its own name.
    pub fn plugin(self, path: impl AsRef<Path>) -> Self {
        let name = path.as_ref().file_name().expect("a file").to_string_lossy().into_owned();
        self.plugin_as(path, &name)
    }

    pub fn plugin_as(mut self, path: impl AsRef<Path>, name: &str) -> Self {
        self.plugins.push((path.as_ref().to_path_buf(), name.to_string()));
        self
    }

    /// Writes `bytes` into the plugin directory as `name`.
    pub fn plugin_bytes(mut self, name: &str, bytes: &[u8]) -> Self {
        self.files.push((name.to_string(), bytes.to_vec()));
        self
    }

    /// A file in edpd's working directory (e.g. `edp.toml`).
    pub fn file(mut self, name: &str, content: &str) -> Self {
        self.root_files.push((name.to_string(), content.as_bytes().to_vec()));
        self
    }

    /// A setting, as an `EDP__SECTION__KEY` environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub async fn start(self) -> TestApp {
        let root = tempfile::Builder::new().prefix("edp-test-").tempdir().expect("temp dir");
        let plugins = root.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("plugin dir");
        for (from, name) in &self.plugins {
            std::fs::copy(from, plugins.join(name)).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        }
        for (name, bytes) in &self.files {
            std::fs::write(plugins.join(name), bytes).expect("write plugin file");
        }
        for (name, bytes) in &self.root_files {
            let path = root.path().join(name);
            std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("file's directory");
            std::fs::write(path, bytes).expect("write file");
        }
        let mut env = vec![
            ("EDP__SERVER__PORT".to_string(), "0".to_string()),
            ("EDP__PATHS__DATA_DIR".to_string(), root.path().join("data").display().to_string()),
            ("EDP__PATHS__PLUGIN_DIR".to_string(), plugins.display().to_string()),
        ];
        env.extend(self.env);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http client");
        let mut app = TestApp { base: String::new(), http, root, child: None, env };
        app.start().await;
        app
    }
}

impl TestApp {
    /// edpd with the local engine, on SQLite in a temp dir.
    pub async fn spawn() -> Self {
        Builder::default().start().await
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A builder with no plugins at all.
    pub fn bare() -> Builder {
        Builder { plugins: Vec::new(), files: Vec::new(), root_files: Vec::new(), env: Vec::new() }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The directory edpd loads plugins from, watched while it runs.
    pub fn plugin_dir(&self) -> PathBuf {
        self.root.path().join("plugins")
    }

    /// The local engine's directory for one execution.
    pub fn job_dir(&self, execution_id: &str) -> PathBuf {
        self.data_dir().join("engines/local/jobs").join(execution_id)
    }

    /// Starts edpd and waits for the line that tells its port.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "edpd is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join("edpd.log"))
            .expect("log file");
        let mut child = Command::new(build::edpd())
            .env("RUST_LOG", "info,edp=debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("edpd starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        self.child = Some(child);
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let addr = line.trim().strip_prefix("edpd listening on ").unwrap_or_else(|| {
            panic!("edpd did not start; its log:\n{}", self.log());
        });
        self.base = addr.to_string();
    }

    /// SIGKILL: edpd gets no chance to clean up (jobs keep running).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The edpd process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the edpd process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("edpd.log")).unwrap_or_default()
    }

    /// Requests that carry `X-Auth-Token: token`.
    pub fn with_token(&self, token: &str) -> Caller<'_> {
        Caller { app: self, token: Some(token.to_string()) }
    }

    /// Requests that carry no token (what [`TestApp::get`] and the others send).
    pub fn anonymous(&self) -> Caller<'_> {
        Caller { app: self, token: None }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.patch(self.url(path)).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.put(self.url(path)).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.http.delete(self.url(path))).await
    }

    /// A request with a raw body (uploads, malformed JSON).
    pub async fn send_raw(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Reply {
        self.send(self.http.request(method, self.url(path)).body(body)).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Any request built on `self.http` (e.g. with other headers).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response =
            request.send().await.unwrap_or_else(|e| panic!("request failed: {e}; edpd log:\n{}", self.log()));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        Reply { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// Uploads `content` as an internal job binary named `name`; its id.
    pub async fn upload_binary(&self, name: &str, content: &[u8]) -> String {
        let internal = self
            .send_raw(reqwest::Method::PUT, &format!("/v2/job-binary-internals/{name}"), content.to_vec())
            .await
            .expect(202);
        let internal_id = internal["job_binary_internal"]["id"].as_str().expect("internal id");
        let body = serde_json::json!({"name": name, "url": format!("internal-db://{internal_id}")});
        self.post("/v2/job-binaries", body).await.expect(202)["job_binary"]["id"]
            .as_str()
            .expect("binary id")
            .to_string()
    }

    /// The whole of one log stream of a job, read page by page.
    pub async fn read_log(&self, id: &str, stream: &str) -> String {
        let mut text = String::new();
        let mut offset = 0;
        loop {
            let reply = self.get(&format!("/v2/jobs/{id}/logs?stream={stream}&offset={offset}")).await.expect(200);
            let chunk = &reply["log"];
            let data = chunk["data"].as_str().unwrap_or_default();
            text.push_str(data);
            let next = chunk["next_offset"].as_u64().expect("next_offset");
            if data.is_empty() || next == offset {
                return text;
            }
            offset = next;
        }
    }

    /// Kills what supervised jobs (of any engine: `engines/<id>/jobs/`) are
    /// still running: tests must not leak processes, whatever they assert.
    fn kill_jobs(&self) {
        let Ok(engines) = std::fs::read_dir(self.data_dir().join("engines")) else { return };
        let dirs = engines.flatten().filter_map(|engine| std::fs::read_dir(engine.path().join("jobs")).ok()).flatten();
        for dir in dirs.flatten() {
            // A finished job's pid may belong to someone else by now.
            if dir.path().join("exit").exists() {
                continue;
            }
            if let Some(pgid) =
                std::fs::read_to_string(dir.path().join("job.pid")).ok().and_then(|s| s.trim().parse::<i32>().ok())
                && pgid > 1
                && let Some(pid) = rustix::process::Pid::from_raw(pgid)
            {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// One caller of a [`TestApp`]: the same requests, with its token.
pub struct Caller<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Caller<'_> {
    pub async fn get(&self, path: &str) -> Reply {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.request(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    pub async fn send_raw(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Reply {
        let request = self.app.http.request(method, self.app.url(path)).body(body);
        self.app.send(self.authorised(request)).await
    }

    /// Any method, with an optional JSON body.
    pub async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.app.http.request(method, self.app.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.app.send(self.authorised(request)).await
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.header("X-Auth-Token", token),
            None => request,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
        self.kill_jobs();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- edpd log (last lines) ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        remove_dir(self.root.path());
    }
}

/// Removes `dir` and all in it. The engine's supervisor outlives edpd, as
/// it must, and writes the end of the jobs just killed into the directory
/// while it is being removed: `remove_dir_all` then stops at the first
/// directory that is no longer empty, and `TempDir` ignores that, leaving
/// the directory behind. So it is tried again until it succeeds, for up
/// to five seconds.
fn remove_dir(dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if std::time::Instant::now() >= deadline => {
                eprintln!("could not remove {}: {e}", dir.display());
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
