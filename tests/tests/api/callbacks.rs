//! The callback endpoint engines' backends call: only the execution's own
//! secret is accepted, and it changes nothing but when edpd looks.

use std::time::Duration;

use edp_tests::TestApp;
use serde_json::json;

use crate::helpers::{TERMINAL, launch, local_cluster, shell_template, wait_for};

#[tokio::test]
async fn callbacks_without_the_executions_secret_are_refused() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "quiet", "true\n").await;
    let id = launch(&app, &template, &cluster, json!({})).await;
    let job = wait_for(&app, &id, TERMINAL, Duration::from_secs(30)).await;

    // The local engine asks for no callbacks, so no token can be right.
    for query in ["", "?token=", "?token=guess&status=KILLED"] {
        let reply = app.get(&format!("/v2/jobs/{id}/callback{query}")).await;
        assert_eq!(reply.status, 401, "{query}: {}", reply.body);
        assert_eq!(reply.error_name(), "UNAUTHORIZED");
    }
    let reply = app.get(&format!("/v2/jobs/{}/callback?token=x", uuid::Uuid::new_v4())).await;
    assert_eq!(reply.status, 404);
    let after = app.get(&format!("/v2/jobs/{id}")).await.expect(200)["job"].clone();
    assert_eq!(after["info"], job["info"], "a refused callback changed the job");
}
