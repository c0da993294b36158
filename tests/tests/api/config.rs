//! Configuration layers: built-in defaults < edp.toml < EDP__* variables.

use edp_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn edp_toml_overrides_defaults_and_the_environment_overrides_edp_toml() {
    let toml = r#"
[auth]
default_project = "from-toml"

[clusters.scratch]
plugin_name = "local"
cluster_configs = { shell = "/bin/sh" }

[jobs]
max_binary_bytes = 1000
"#;
    let app = TestApp::builder().file("edp.toml", toml).env("EDP__JOBS__MAX_BINARY_BYTES", "2000").start().await;

    // A cluster declared in the file, owned by the file's default project.
    let clusters = app.get("/v2/clusters?name=scratch").await.expect(200);
    let scratch = &clusters["clusters"][0];
    assert_eq!(scratch["status"], "Active", "{clusters}");
    assert_eq!(scratch["project_id"], "from-toml");
    assert_eq!(scratch["declared"], true);
    // The defaults' `local` cluster is still there: layers merge.
    assert_eq!(app.get("/v2/clusters?name=local").await.expect(200)["clusters"].as_array().map(Vec::len), Some(1));

    // The environment's limit (2000) wins over the file's (1000).
    let fits = app.send_raw(reqwest::Method::PUT, "/v2/job-binary-internals/ok.bin", vec![b'x'; 1500]).await;
    assert_eq!(fits.status, 202, "{}", fits.body);
    let too_big = app.send_raw(reqwest::Method::PUT, "/v2/job-binary-internals/big.bin", vec![b'x'; 2500]).await;
    assert_eq!(too_big.status, 413, "{}", too_big.body);
    assert_eq!(too_big.body["error_name"], json!("DATA_TOO_BIG"));
}
