//! Exit codes and error messages; `--json` for scripts; the config file.

use edp_tests::TestApp;
use serde_json::Value;

use crate::support::{Edp, run};

#[tokio::test]
async fn a_refusal_shows_the_servers_message_and_exits_3() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let missing = "00000000-0000-4000-8000-000000000000";
    let reply = app.get(&format!("/v2/jobs/{missing}")).await;
    assert_eq!(reply.status, 404);
    let message = reply.body["error_message"].as_str().unwrap();

    let run = edp.run(&["status", missing]).await;
    run.expect_code(3);
    assert_eq!(run.stderr, format!("edp: {message} (NOT_FOUND)\n"));

    // A launch the engine refuses: a Java job takes libs, not mains.
    let script = edp.write("x.sh", "echo\n");
    let run = edp.run(&["submit", "-t", "Java", "-n", "j", "--main", script.to_str().unwrap()]).await;
    run.expect_code(3);
    assert!(run.stderr.starts_with("edp: ") && run.stderr.trim_end().ends_with(')'), "{}", run.stderr);

    // A cluster that does not exist, named on the command line.
    let run = edp.run(&["submit", "-t", "Shell", "-n", "j", "--main", script.to_str().unwrap(), "-c", "nowhere"]).await;
    run.expect_code(3);
    assert!(run.stderr.contains("`nowhere`"), "{}", run.stderr);
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    edp.run(&["submit", "-n", "x"]).await.expect_code(2);
    edp.run(&["submit", "-t", "Shell", "-n", "x", "--main", "./no-such-file.sh"]).await.expect_code(2);
    edp.run(&["submit", "-t", "Spark", "-n", "x", "--executor-memory", "lots"]).await.expect_code(2);
    edp.run(&["frobnicate"]).await.expect_code(2);
}

#[tokio::test]
async fn json_output_parses_everywhere() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let data = edp.dir().join("in.txt");
    std::fs::write(&data, "x\n").unwrap();
    let url = format!("file://{}", data.display());

    let added = edp.run(&["--json", "data-sources", "add", "input", &url]).await.expect_code(0).json();
    assert_eq!(added["type"], "file");
    let engines = edp.run(&["--json", "engines"]).await.expect_code(0).json();
    assert!(engines["engines"].as_array().unwrap().iter().any(|e| e["id"] == "local"), "{engines}");
    for args in
        [&["--json", "clusters", "list"][..], &["--json", "data-sources", "list"], &["--json", "templates", "list"]]
    {
        let value = edp.run(args).await.expect_code(0).json();
        assert!(value.is_array(), "{args:?}: {value}");
    }
    let clusters = edp.run(&["--json", "clusters", "list"]).await.json();
    assert!(clusters.as_array().unwrap().iter().any(|c| c["name"] == "local"));

    // A cluster registered here, then used by name and by id.
    let other = edp.run(&["--json", "clusters", "add", "other", "--engine", "local"]).await.expect_code(0).json();
    assert_eq!(other["status"], "Active", "{other}");
    let other_id = other["id"].as_str().unwrap();
    let script = edp.write("ok.sh", "echo ok\n");
    let script = script.to_str().unwrap();
    for cluster in ["other", other_id] {
        let job = edp.run(&["--json", "submit", "-t", "Shell", "-n", "ok", "--main", script, "-c", cluster]).await;
        assert_eq!(job.expect_code(0).json()["cluster_id"], other["id"]);
    }

    // Human tables name things.
    let table = edp.run(&["clusters", "list"]).await;
    assert!(table.expect_code(0).stdout.contains("local"), "{}", table.stdout);
    let table = edp.run(&["engines"]).await;
    assert!(table.expect_code(0).stdout.contains("Shell"), "{}", table.stdout);

    // --input by name reaches the job as its data source.
    let script = edp.write("cat.sh", "cat \"$EDP_INPUT\"\n");
    let job = edp
        .run(&[
            "--json",
            "submit",
            "-t",
            "Shell",
            "-n",
            "cat",
            "--main",
            script.to_str().unwrap(),
            "--input",
            "input",
            "--wait",
        ])
        .await
        .expect_code(0)
        .json();
    assert_eq!(job["input_id"], added["id"]);
    let logs = edp.run(&["logs", job["id"].as_str().unwrap()]).await;
    assert_eq!(logs.expect_code(0).stdout, "x\n");
    let templates: Value = edp.run(&["--json", "templates", "list", "--type", "Shell"]).await.json();
    let names: Vec<&str> = templates.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names.len(), 2, "{templates}");
    assert!(names.contains(&"cat") && names.contains(&"ok"), "{templates}");
}

#[tokio::test]
async fn the_config_file_gives_the_url_and_the_default_cluster() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    edp.write(".config/edp/config.toml", &format!("url = \"{}/v2/\"\ndefault_cluster = \"elsewhere\"\n", app.base));
    // No EDP_URL: the file's URL is used.
    let listed = run(edp.command(&["--json", "clusters", "list"], false)).await;
    listed.expect_code(0).json();
    // Its default cluster too (and it does not exist).
    let script = edp.write("x.sh", "echo\n");
    let refused =
        run(edp.command(&["submit", "-t", "Shell", "-n", "x", "--main", script.to_str().unwrap()], false)).await;
    refused.expect_code(3);
    assert!(refused.stderr.contains("`elsewhere`"), "{}", refused.stderr);

    edp.write(".config/edp/config.toml", "ulr = \"http://x\"\n");
    let bad = run(edp.command(&["clusters", "list"], false)).await;
    bad.expect_code(2);
    assert!(bad.stderr.contains("ulr"), "{}", bad.stderr);
}
