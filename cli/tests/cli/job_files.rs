//! `edp submit -f job.yaml [--env NAME]`.

use edp_tests::TestApp;

use crate::support::Edp;

const JOB: &str = "\
name: greeter
type: shell
main: scripts/greet.sh
args: [world]
params:
  GREETING: hello
environments:
  prod:
    args: [production]
    params:
      GREETING: bonjour
";

#[tokio::test]
async fn an_environment_overlay_reaches_the_job() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    edp.write("project/scripts/greet.sh", "echo \"$GREETING $1\"\n");
    let file = edp.write("project/job.yaml", JOB);
    let file = file.to_str().unwrap();

    // Run from another directory: the main is found relative to the file.
    let prod = edp.run(&["--json", "submit", "-f", file, "--env", "prod", "--wait"]).await.expect_code(0).json();
    let logs = edp.run(&["logs", prod["id"].as_str().unwrap()]).await;
    assert_eq!(logs.expect_code(0).stdout, "bonjour production\n");

    let plain = edp.run(&["--json", "submit", "-f", file, "--wait"]).await.expect_code(0).json();
    let logs = edp.run(&["logs", plain["id"].as_str().unwrap()]).await;
    assert_eq!(logs.expect_code(0).stdout, "hello world\n");

    // Flags win over the file.
    let flagged =
        edp.run(&["--json", "submit", "-f", file, "--env", "prod", "--param", "GREETING=hej", "--wait"]).await;
    let logs = edp.run(&["logs", flagged.expect_code(0).json()["id"].as_str().unwrap()]).await;
    assert_eq!(logs.expect_code(0).stdout, "hej production\n");

    // The same template all along: the overlays changed no binary.
    let templates = app.get("/v2/job-templates").await.expect(200);
    assert_eq!(templates["job_templates"].as_array().unwrap().len(), 1, "{templates}");
}

#[tokio::test]
async fn a_toml_job_file_works_too() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    edp.write("greet.sh", "echo \"$GREETING $1\"\n");
    let file = edp.write(
        "job.toml",
        "name = \"greeter\"\ntype = \"Shell\"\nmains = [\"greet.sh\"]\nargs = [42]\n\n[params]\nGREETING = \"hi\"\n",
    );
    let job = edp.run(&["--json", "submit", "-f", file.to_str().unwrap(), "--wait"]).await.expect_code(0).json();
    let logs = edp.run(&["logs", job["id"].as_str().unwrap()]).await;
    assert_eq!(logs.expect_code(0).stdout, "hi 42\n");
}

#[tokio::test]
async fn unknown_keys_are_refused_with_the_key_and_the_line() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    edp.write("greet.sh", "echo hi\n");
    let file = edp.write("bad.yaml", "name: greeter\ntype: Shell\nclustr: local\nmain: greet.sh\n");
    let run = edp.run(&["submit", "-f", file.to_str().unwrap()]).await;
    run.expect_code(2);
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.contains("bad.yaml:3:") && first.contains("unknown field `clustr`"), "{}", run.stderr);

    let file = edp
        .write("overlay.yaml", "name: greeter\ntype: Shell\nenvironments:\n  prod:\n    resources:\n      cores: 8\n");
    let run = edp.run(&["submit", "-f", file.to_str().unwrap(), "--env", "prod"]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("overlay.yaml:6:") && run.stderr.contains("`cores`"), "{}", run.stderr);

    let file = edp.write("job.yaml", "name: greeter\ntype: Shell\nmain: greet.sh\nenvironments:\n  prod: {}\n");
    let run = edp.run(&["submit", "-f", file.to_str().unwrap(), "--env", "staging"]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("no environment `staging`") && run.stderr.contains("prod"), "{}", run.stderr);

    // Nothing reached the server.
    let templates = app.get("/v2/job-templates").await.expect(200);
    assert_eq!(templates["job_templates"], serde_json::json!([]));
}
