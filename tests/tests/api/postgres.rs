//! The same lifecycle against a real Postgres. `scripts/test` starts one and
//! sets EDP_TEST_PG_URL (a URL whose user may create databases); each run
//! gets a fresh database, dropped afterwards.

use std::process::Command;

use edp_tests::TestApp;

use crate::lifecycle::lifecycle;

pub struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    pub(crate) fn create(admin_url: &str) -> Self {
        let name = format!("edp_test_{}", uuid::Uuid::new_v4().simple());
        psql(admin_url, &format!("CREATE DATABASE {name}"));
        Self { admin_url: admin_url.to_string(), name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> String {
        let (base, _) = self.admin_url.rsplit_once('/').expect("a database URL ends in /<database>");
        format!("{base}/{}", self.name)
    }
}

impl Database {
    /// Closes the database to new connections and ends the open ones
    /// (`true`), or opens it again.
    pub fn refuse_connections(&self, refuse: bool) {
        psql(&self.admin_url, &format!("ALTER DATABASE {} ALLOW_CONNECTIONS {}", self.name, !refuse));
        if refuse {
            self.end_connections();
        }
    }

    /// Ends every open connection to the database, as a server restart
    /// does; new ones are taken.
    pub fn end_connections(&self) {
        let sql = format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'", self.name);
        psql(&self.admin_url, &sql);
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin_url)
            .args(["-c", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql").arg(url).args(["-v", "ON_ERROR_STOP=1", "-c", sql]).output().expect("psql runs");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A fresh database on the test Postgres, dropped when it goes.
pub fn database() -> Database {
    let admin_url = std::env::var("EDP_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("EDP_TEST_PG_URL is not set: run ./scripts/test, which starts Postgres, or point it at one (postgres://user:pass@host/postgres)")
    });
    Database::create(&admin_url)
}

#[tokio::test]
async fn bad_input_on_postgres() {
    let db = database();
    let app = TestApp::builder().env("EDP__DATABASE__URL", &db.url()).start().await;
    crate::bad_input::bad_requests(&app).await;
    crate::bad_input::unstorable_bytes(&app).await;
}

#[tokio::test]
async fn the_cross_project_matrix_on_postgres() {
    let db = database();
    let app = crate::security::start(TestApp::builder().env("EDP__DATABASE__URL", &db.url())).await;
    crate::security::matrix(&app).await;
}

#[tokio::test]
async fn the_whole_lifecycle_on_postgres() {
    let db = database();
    let mut app = TestApp::builder().env("EDP__DATABASE__URL", &db.url()).start().await;
    lifecycle(&app).await;
    crate::paging::name_filters(&app).await;
    crate::v11::uploads_page_and_rename(&app).await;
    assert!(!app.data_dir().join("edp.sqlite").exists(), "no SQLite file when Postgres is configured");
    // And a restart finds its state there.
    app.kill();
    app.start().await;
    assert_eq!(app.get("/v2/clusters?name=local").await.expect(200)["clusters"].as_array().map(Vec::len), Some(1));
}

/// edpd tests a pooled connection before using it only once it has sat
/// idle a second (core/src/db.rs): a node that was quiet that long does not
/// fail a request on connections the server closed meanwhile (a restart, a
/// proxy's idle limit), and its scheduler carries on.
#[tokio::test]
async fn connections_the_server_ended_fail_no_request_after_a_quiet_second() {
    let db = database();
    let app = TestApp::builder().env("EDP__DATABASE__URL", &db.url()).start().await;
    let cluster = crate::helpers::local_cluster(&app).await;
    let template = crate::helpers::shell_template(&app, "echo", "echo back\n").await;
    // Several requests at once, so that the pool holds several connections.
    for reply in futures::future::join_all((0..8).map(|_| app.get("/v2/jobs"))).await {
        reply.expect(200);
    }

    db.end_connections();
    // The condition under test: every pooled connection idle for a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    for reply in futures::future::join_all((0..8).map(|_| app.get("/v2/jobs"))).await {
        reply.expect(200);
    }
    let job = crate::helpers::launch(&app, &template, &cluster, serde_json::json!({})).await;
    let done = crate::helpers::wait_for(&app, &job, crate::helpers::TERMINAL, std::time::Duration::from_secs(30)).await;
    assert_eq!(done["info"]["status"], "SUCCEEDED", "{done}");
}
