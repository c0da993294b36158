//! Running `edp` from tests: an isolated home (no config file of the
//! developer's leaks in), EDP_URL pointing at the test's edpd, a deadline
//! on every run; and background runs whose output is read line by line.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use edp_tests::{TestApp, eventually};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::mpsc;

/// No `edp` run in these tests should take longer.
pub const RUN_DEADLINE: Duration = Duration::from_secs(120);
pub const JOB_DEADLINE: Duration = Duration::from_secs(60);

pub struct Edp {
    pub url: String,
    home: TempDir,
}

/// What one run printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n--- stderr\n{}", self.stdout, self.stderr))
    }
}

impl Edp {
    pub fn new(app: &TestApp) -> Self {
        Self::with_url(&app.base)
    }

    pub fn with_url(url: &str) -> Self {
        let home = tempfile::Builder::new().prefix("edp-cli-test-").tempdir().expect("temp home");
        Self { url: url.to_string(), home }
    }

    /// A directory for the test's scripts and job files.
    pub fn dir(&self) -> &Path {
        self.home.path()
    }

    /// Writes `text` into [`Self::dir`]; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    /// The command, not yet run. `EDP_URL` is set unless `with_url` is false.
    pub fn command(&self, args: &[&str], with_url: bool) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("edp"));
        cmd.args(args)
            .current_dir(self.dir())
            .env("HOME", self.dir())
            .env("XDG_CONFIG_HOME", self.dir().join(".config"))
            .env_remove("EDP_TOKEN")
            .env_remove("EDP_CONFIG")
            .env_remove("EDP_URL")
            .timeout(RUN_DEADLINE);
        if with_url {
            cmd.env("EDP_URL", &self.url);
        }
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        run(self.command(args, true)).await
    }

    /// `script` run by `bash -euo pipefail` in [`Self::dir`], as a user's
    /// script would be: the built `edp` first on `PATH`, `EDP_URL` set.
    pub async fn bash(&self, script: &str) -> Run {
        let edp = std::path::PathBuf::from(assert_cmd::cargo::cargo_bin!("edp"));
        let path = std::env::join_paths(
            std::iter::once(edp.parent().expect("edp's directory").to_path_buf())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .expect("PATH");
        let mut cmd = assert_cmd::Command::new("bash");
        cmd.args(["-euo", "pipefail", "-c", script])
            .current_dir(self.dir())
            .env("PATH", path)
            .env("HOME", self.dir())
            .env("XDG_CONFIG_HOME", self.dir().join(".config"))
            .env_remove("EDP_TOKEN")
            .env_remove("EDP_CONFIG")
            .env("EDP_URL", &self.url)
            .timeout(RUN_DEADLINE);
        run(cmd).await
    }

    /// `edp` in the background, for commands that run as long as a job.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("edp"));
        cmd.args(args)
            .current_dir(self.dir())
            .env("HOME", self.dir())
            .env("XDG_CONFIG_HOME", self.dir().join(".config"))
            .env_remove("EDP_TOKEN")
            .env_remove("EDP_CONFIG")
            .env("EDP_URL", &self.url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("edp starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        all.push_str(&line);
                        let _ = tx.send(line);
                    }
                }
            }
            all
        });
        let err_reader = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = stderr.read_to_string(&mut all);
            all
        });
        Background { child: Some(child), lines, reader: Some(reader), err_reader: Some(err_reader), seen: Vec::new() }
    }
}

pub async fn run(mut cmd: assert_cmd::Command) -> Run {
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("edp runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub struct Background {
    child: Option<Child>,
    lines: mpsc::UnboundedReceiver<String>,
    reader: Option<std::thread::JoinHandle<String>>,
    err_reader: Option<std::thread::JoinHandle<String>>,
    pub seen: Vec<String>,
}

impl Background {
    /// Waits for a stdout line for which `wanted` holds; returns it.
    pub async fn line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| wanted(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + JOB_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Ok(None) => panic!("edp ended before printing {what}; it printed:\n{}", self.seen.concat()),
                Err(_) => panic!("timed out waiting for {what}; edp printed:\n{}", self.seen.concat()),
            }
        }
    }

    /// Waits for the process to exit (with a deadline); all it printed.
    pub async fn finish(mut self) -> Run {
        let mut child = self.child.take().expect("running");
        let status = eventually("edp to exit", JOB_DEADLINE, || {
            let polled = child.try_wait().expect("try_wait");
            async move { polled }
        })
        .await;
        let stdout = self.reader.take().expect("reader").join().expect("reader thread");
        let stderr = self.err_reader.take().expect("reader").join().expect("reader thread");
        Run { code: status.code().unwrap_or(-1), stdout, stderr }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A script that prints `first`, waits for the file named by its first
/// argument, prints `second`: a job the test lets finish when it wants.
pub const GATED: &str = "echo first\nwhile [ ! -e \"$1\" ]; do sleep 0.05; done\necho second\n";

/// Submits `script` as a Shell job without waiting; returns the job id.
pub async fn submit(edp: &Edp, name: &str, script: &str, args: &[&str]) -> String {
    let path = edp.write(&format!("{name}.sh"), script);
    let path = path.to_str().expect("utf-8");
    let mut argv = vec!["--json", "submit", "-t", "Shell", "-n", name, "--main", path];
    for arg in args {
        argv.extend(["--arg", arg]);
    }
    let job = edp.run(&argv).await.expect_code(0).json();
    job["id"].as_str().expect("job id").to_string()
}

/// Waits until the job's status (through the API) is one of `wanted`.
pub async fn wait_status(app: &TestApp, id: &str, wanted: &[&str]) -> Value {
    eventually(&format!("job {id} to reach {wanted:?}"), JOB_DEADLINE, || async {
        let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200)["job"].clone();
        let status = job["info"]["status"].as_str().unwrap_or_default().to_string();
        wanted.contains(&status.as_str()).then_some(job)
    })
    .await
}
