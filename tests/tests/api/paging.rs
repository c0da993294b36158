//! Sahara's list paging, done in SQL.

use edp_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn lists_page_with_limit_marker_and_sort() {
    let app = TestApp::spawn().await;
    for name in ["e", "b", "d", "a", "c"] {
        app.post("/v2/data-sources", json!({"name": name, "type": "file", "url": format!("file:///data/{name}")}))
            .await
            .expect(202);
    }
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["data_sources"]
            .as_array()
            .expect("list")
            .iter()
            .map(|d| d["name"].as_str().expect("name").to_string())
            .collect()
    };

    let all = app.get("/v2/data-sources?sort_by=name").await.expect(200);
    assert_eq!(names(&all), ["a", "b", "c", "d", "e"]);
    assert!(all.get("markers").is_none(), "markers only when paging: {all}");

    let first = app.get("/v2/data-sources?sort_by=name&limit=2").await.expect(200);
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first["markers"]["prev"], json!(null));
    let next = first["markers"]["next"].as_str().expect("a next marker").to_string();

    let second = app.get(&format!("/v2/data-sources?sort_by=name&limit=2&marker={next}")).await.expect(200);
    assert_eq!(names(&second), ["c", "d"]);
    let next = second["markers"]["next"].as_str().expect("a next marker").to_string();

    let third = app.get(&format!("/v2/data-sources?sort_by=name&limit=2&marker={next}")).await.expect(200);
    assert_eq!(names(&third), ["e"]);
    assert_eq!(third["markers"]["next"], json!(null));
    let prev = third["markers"]["prev"].as_str().expect("a prev marker").to_string();
    let back = app.get(&format!("/v2/data-sources?sort_by=name&limit=2&marker={prev}")).await.expect(200);
    assert_eq!(names(&back), ["c", "d"]);

    let descending = app.get("/v2/data-sources?sort_by=-name&limit=3").await.expect(200);
    assert_eq!(names(&descending), ["e", "d", "c"]);
}

#[tokio::test]
async fn name_filters_are_substrings_taken_literally() {
    let app = TestApp::spawn().await;
    name_filters(&app).await;
}

/// `?name=` matches a substring, and LIKE's wildcards in it (`_`, `%`)
/// stand for themselves. Shared with the Postgres test: the two databases
/// treat LIKE differently.
pub async fn name_filters(app: &TestApp) {
    for name in ["dry_run.py", "dry-run.py", "dryXrun.py"] {
        app.post("/v2/data-sources", json!({"name": name, "type": "file", "url": "file:///data/x"})).await.expect(202);
    }
    let found = |query: &'static str| async move {
        let body = app.get(&format!("/v2/data-sources?name={query}")).await.expect(200);
        let mut names: Vec<String> = body["data_sources"]
            .as_array()
            .expect("list")
            .iter()
            .map(|d| d["name"].as_str().expect("name").to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(found("dry_run").await, ["dry_run.py"]);
    assert_eq!(found("run.py").await, ["dry-run.py", "dryXrun.py", "dry_run.py"]);
    assert_eq!(found("_").await, ["dry_run.py"]);
    assert!(found("%25").await.is_empty(), "`%` is not a wildcard");
    assert!(found("dry%5Crun").await.is_empty(), "`\\` is not an escape");
}
