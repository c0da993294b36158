//! The real `openstack` command against edpd: python-openstackclient with
//! python-saharaclient's `dataprocessing` plugin, pinned, from PyPI (into
//! target/venv-osc by scripts/setup-osc). No Keystone: `--os-auth-type
//! admin_token` with an endpoint that names the project, on the CLI's
//! default API (1.1) and on API 2. Each command must exit 0; what it prints
//! (`-f json`) is what is checked.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use edp_tests::{TestApp, build};
use serde_json::Value;

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

#[derive(Clone, Copy, Debug)]
enum Api {
    /// The CLI's default.
    V11,
    /// `--os-data-processing-api-version 2`.
    V2,
}

/// `openstack dataprocessing ...` for one project of one edpd.
struct Openstack {
    exe: PathBuf,
    /// A HOME of its own: no clouds.yaml or cache of the machine's user.
    home: PathBuf,
    global: Vec<String>,
}

impl Openstack {
    fn new(app: &TestApp, api: Api) -> Self {
        let exe = std::env::var_os("EDP_TEST_OPENSTACK")
            .map(PathBuf::from)
            .unwrap_or_else(|| build::workspace_root().join("target/venv-osc/bin/openstack"));
        assert!(
            exe.exists(),
            "no openstack CLI at {}: run ./scripts/test (or scripts/setup-osc), which creates target/venv-osc",
            exe.display()
        );
        let home = app.root.path().join("osc-home");
        std::fs::create_dir_all(&home).expect("a home for the CLI");
        let version = match api {
            Api::V11 => "v1.1",
            Api::V2 => "v2",
        };
        let mut global: Vec<String> = [
            "--os-auth-type",
            "admin_token",
            "--os-token",
            "any-token",
            "--os-endpoint",
            &format!("{}/{version}/{PROJECT}", app.base),
        ]
        .map(String::from)
        .to_vec();
        if let Api::V2 = api {
            global.extend(["--os-data-processing-api-version".to_string(), "2".to_string()]);
        }
        Self { exe, home, global }
    }

    /// Runs `openstack dataprocessing ARGS`: it must exit 0; its stdout.
    async fn run(&self, args: &[&str]) -> String {
        let mut command = Command::new(&self.exe);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("LC_ALL", "C.UTF-8")
            .args(&self.global)
            .arg("dataprocessing")
            .args(args);
        let shown = format!("openstack dataprocessing {}", args.join(" "));
        let out = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("openstack runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "`{shown}` exited {}:\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `ARGS -f json`, parsed; a line some commands print first (`Job "…"
    /// has been started successfully.`) is skipped.
    async fn json(&self, args: &[&str]) -> Value {
        let stdout = self.run(&[args, &["-f", "json"]].concat()).await;
        let start = stdout.find(['{', '[']).unwrap_or_else(|| panic!("no JSON in: {stdout}"));
        serde_json::from_str(&stdout[start..]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

/// The row of a `list -f json` whose `key` is `value`.
#[track_caller]
fn row<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|rows| rows.iter().find(|r| r[key] == value))
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {list}"))
}

fn has_row(list: &Value, key: &str, value: &str) -> bool {
    list.as_array().is_some_and(|rows| rows.iter().any(|r| r[key] == value))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

/// Everything a user does with EDP from the CLI: clusters, job types,
/// binaries, templates, data sources, a real Shell job on `local` from
/// launch to SUCCEEDED, listing and deleting.
async fn lifecycle(api: Api) {
    let app = TestApp::spawn().await;
    let osc = Openstack::new(&app, api);
    let work = app.root.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let script = work.join("hello.sh");
    std::fs::write(&script, "echo \"hello, $1\"\n").expect("script");
    let spare = work.join("spare.sh");
    std::fs::write(&spare, "true\n").expect("script");

    // Clusters: the declared `local` one, by name and by id.
    let clusters = osc.json(&["cluster", "list"]).await;
    let local = row(&clusters, "Name", "local");
    assert_eq!(local["Status"], "Active", "{clusters}");
    assert_eq!(local["Plugin name"], "local", "{clusters}");
    let version = text(&local["Plugin version"]).to_string();
    assert!(!version.is_empty(), "{clusters}");
    let cluster_id = text(&local["Id"]).to_string();
    let shown = osc.json(&["cluster", "show", "local"]).await;
    assert_eq!((&shown["Id"], &shown["Status"]), (&local["Id"], &local["Status"]), "{shown}");
    let shown = osc.json(&["cluster", "show", &cluster_id]).await;
    assert_eq!((shown["Name"].as_str(), shown["Plugin version"].as_str()), (Some("local"), Some(&*version)));

    // Job types come from the loaded engines.
    let types = osc.json(&["job", "type", "list"]).await;
    assert_eq!(row(&types, "Name", "Shell")["Plugins"], format!("local({version})"), "{types}");

    // Job binaries: uploaded bytes on 1.1 (v2 has no uploads), a URL on 2.
    let binary = match api {
        Api::V11 => {
            osc.json(&["job", "binary", "create", "--name", "hello.sh", "--data", &script.display().to_string()]).await
        }
        Api::V2 => {
            let url = format!("file://{}", script.display());
            osc.json(&["job", "binary", "create", "--name", "hello.sh", "--url", &url]).await
        }
    };
    let expected_scheme = match api {
        Api::V11 => "internal-db://",
        Api::V2 => "file://",
    };
    assert!(text(&binary["Url"]).starts_with(expected_scheme), "{binary}");
    let binary_id = text(&binary["Id"]).to_string();
    let spare_url = format!("file://{}", spare.display());
    osc.json(&["job", "binary", "create", "--name", "spare.sh", "--url", &spare_url]).await;
    assert_eq!(row(&osc.json(&["job", "binary", "list"]).await, "Name", "hello.sh")["Id"], binary_id.as_str());
    assert_eq!(osc.json(&["job", "binary", "show", "hello.sh"]).await["Url"], binary["Url"]);
    let described = osc.json(&["job", "binary", "update", "spare.sh", "--description", "unused"]).await;
    assert_eq!(described["Description"], "unused", "{described}");

    // A Shell job template running it.
    let template =
        osc.json(&["job", "template", "create", "--name", "hello", "--type", "Shell", "--mains", "hello.sh"]).await;
    assert_eq!(template["Mains"], format!("hello.sh:{binary_id}"), "{template}");
    let template_id = text(&template["Id"]).to_string();
    assert_eq!(row(&osc.json(&["job", "template", "list"]).await, "Name", "hello")["Type"], "Shell");
    assert_eq!(osc.json(&["job", "template", "show", "hello"]).await["Id"], template_id.as_str());
    let described = osc.json(&["job", "template", "update", "hello", "--description", "greets"]).await;
    assert_eq!(described["Description"], "greets", "{described}");

    // Data sources (the CLI offers Sahara's types; hdfs is one edp has).
    let source =
        osc.json(&["data", "source", "create", "--type", "hdfs", "--url", "hdfs://namenode/words", "words"]).await;
    assert_eq!((source["Type"].as_str(), source["Url"].as_str()), (Some("hdfs"), Some("hdfs://namenode/words")));
    let described = osc.json(&["data", "source", "update", "words", "--description", "the words"]).await;
    assert_eq!(described["Description"], "the words", "{described}");
    assert_eq!(osc.json(&["data", "source", "show", "words"]).await["Description"], "the words");
    assert!(has_row(&osc.json(&["data", "source", "list"]).await, "Name", "words"));

    // A real job on `local`, followed with `job show` until it ends.
    let job = osc.json(&["job", "execute", "--job-template", "hello", "--cluster", "local", "--args", "world"]).await;
    assert_eq!(job["Status"], "PENDING", "{job}");
    assert_eq!(
        (job["Job template id"].as_str(), job["Cluster id"].as_str()),
        (Some(&*template_id), Some(&*cluster_id))
    );
    let job_id = text(&job["Id"]).to_string();
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let shown = osc.json(&["job", "show", &job_id]).await;
        if ["SUCCEEDED", "FAILED", "KILLED", "DONEWITHERROR"].contains(&text(&shown["Status"])) {
            break shown;
        }
        assert!(Instant::now() < deadline, "job {job_id} did not end in time: {shown}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["Status"], "SUCCEEDED", "{done}");
    assert!(done["Engine job id"].as_str().is_some_and(|id| !id.is_empty()), "{done}");
    assert!(done["End time"].is_string(), "{done}");
    // It ran the script with the argument: its log, through the API.
    let log = app.get(&format!("/v2/{PROJECT}/jobs/{job_id}/logs?stream=stdout")).await.expect(200);
    assert_eq!(log["log"]["data"], "hello, world\n", "{log}");

    let jobs = osc.json(&["job", "list"]).await;
    assert_eq!(row(&jobs, "Id", &job_id)["Status"], "SUCCEEDED", "{jobs}");
    let published = osc.json(&["job", "update", &job_id, "--public"]).await;
    assert_eq!(published["Is public"], true, "{published}");

    // Deleting, each gone from its list.
    osc.run(&["job", "delete", &job_id]).await;
    assert!(!has_row(&osc.json(&["job", "list"]).await, "Id", &job_id));
    osc.run(&["job", "template", "delete", "hello"]).await;
    assert!(!has_row(&osc.json(&["job", "template", "list"]).await, "Name", "hello"));
    osc.run(&["data", "source", "delete", "words"]).await;
    assert!(!has_row(&osc.json(&["data", "source", "list"]).await, "Name", "words"));
    osc.run(&["job", "binary", "delete", "spare.sh"]).await;
    assert!(!has_row(&osc.json(&["job", "binary", "list"]).await, "Name", "spare.sh"));
    // An uploaded binary: on 1.1 the CLI deletes its bytes first, then it.
    osc.run(&["job", "binary", "delete", "hello.sh"]).await;
    assert!(!has_row(&osc.json(&["job", "binary", "list"]).await, "Name", "hello.sh"));
}

#[tokio::test]
async fn openstack_cli_on_its_default_api_v11() {
    lifecycle(Api::V11).await;
}

#[tokio::test]
async fn openstack_cli_on_api_v2() {
    lifecycle(Api::V2).await;
}
