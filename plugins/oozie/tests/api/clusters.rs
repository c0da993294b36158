//! Registering an Oozie cluster: reachable and NORMAL → Active; unreachable
//! or in safe mode → Error with the reason; malformed configs → 400.

use edp_oozie_server::OozieServer;
use edp_tests::{TestApp, build};
use serde_json::json;

use crate::common::*;

async fn app() -> TestApp {
    build::ensure_package_built("edp-engine-oozie");
    let plugin = build::artifact(&format!("libedp_engine_oozie.{}", std::env::consts::DLL_EXTENSION));
    TestApp::bare().plugin(plugin).start().await
}

#[tokio::test]
async fn registration_checks_that_oozie_answers_in_normal_mode() {
    let app = app().await;
    let oozie = OozieServer::start().await;
    let active = register(&app, "reachable", cluster_configs(&oozie)).await;
    assert_eq!(active["status"], "Active", "{active}");
    let shown = app.get(&format!("/v2/clusters/{}", active["id"].as_str().unwrap())).await.expect(200);
    assert_eq!(shown["cluster"]["cluster_configs"]["oozie_url"], oozie.oozie_url().as_str());

    // Nobody listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut configs = cluster_configs(&oozie);
    configs["oozie_url"] = json!(format!("http://127.0.0.1:{port}/oozie"));
    let down = register(&app, "unreachable", configs).await;
    assert_eq!(down["status"], "Error", "{down}");
    let reason = down.to_string();
    assert!(reason.contains(&format!("127.0.0.1:{port}")) && reason.contains("cannot connect"), "{down}");

    oozie.set_system_mode("SAFEMODE");
    let safe = register(&app, "safe", cluster_configs(&oozie)).await;
    assert_eq!(safe["status"], "Error", "{safe}");
    assert!(safe.to_string().contains("SAFEMODE"), "{safe}");

    let mut bad = cluster_configs(&oozie);
    bad["name_node"] = json!("not a uri");
    let refused =
        app.post("/v2/clusters", json!({"name": "bad", "plugin_name": "oozie", "cluster_configs": bad})).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(refused.body.to_string().contains("name_node"), "{}", refused.body);
}

#[tokio::test]
async fn the_engine_describes_its_job_types_and_secret_configs() {
    let app = app().await;
    let engines = app.get("/v2/engines").await.expect(200);
    let oozie =
        engines["engines"].as_array().unwrap().iter().find(|e| e["id"] == "oozie").expect("the oozie engine").clone();
    let types: Vec<&str> = oozie["job_types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(types, ["MapReduce", "MapReduce.Streaming", "Java", "Pig", "Hive", "Shell", "Spark"]);
    assert_eq!(oozie["capabilities"]["callbacks"], true, "{oozie}");
    assert_eq!(oozie["capabilities"]["suspend"], true, "{oozie}");

    // A secret given at registration is never shown back.
    let server = OozieServer::start().await;
    let mut configs = cluster_configs(&server);
    configs["gateway_user"] = json!("knox");
    configs["gateway_password"] = json!("s3cret-password");
    let cluster = register(&app, "gated", configs).await;
    assert!(!cluster.to_string().contains("s3cret-password"), "{cluster}");
}
