//! `GET /v2/jobs/{id}/output` for an `hdfs` output: the engine reads the
//! output directory's `part-*` files through WebHDFS (LISTSTATUS, then the
//! two-step OPEN with the page's offset and length).

use edp_oozie_server::Outcome;
use serde_json::json;

use crate::common::{DEADLINE, FAST, data_source, launch, shell_template, start, wait_status, workflow_of};
use crate::flows::put;

#[tokio::test]
async fn a_finished_jobs_hdfs_output_is_read_in_pages_through_webhdfs() {
    let env = start(FAST).await;
    let template = shell_template(&env, "counter").await;
    let output = data_source(&env.app, "counts", "/user/edp/out/counts").await;
    let id = launch(&env, &template, json!({"output_id": output})).await;
    let view = workflow_of(&env, &id).await;
    // What the job wrote: two parts (the second begins with a two-byte
    // character) and Hadoop's marker.
    let webhdfs = env.oozie.webhdfs_url();
    put(&webhdfs, "/user/edp/out/counts/part-00000", b"apple\t3\n").await;
    put(&webhdfs, "/user/edp/out/counts/part-00001", "über\t1\n".as_bytes()).await;
    put(&webhdfs, "/user/edp/out/counts/_SUCCESS", b"").await;
    env.oozie.finish(&view.id, Outcome::Succeeded).expect("finish the workflow");
    wait_status(&env, &id, "SUCCEEDED", DEADLINE).await;

    let whole = env.app.get(&format!("/v2/jobs/{id}/output")).await.expect(200)["output"].clone();
    assert_eq!(whole["data"], "apple\t3\nüber\t1\n", "{whole}");
    assert_eq!(whole["complete"], true);
    assert_eq!(whole["url"], "/user/edp/out/counts");

    // A page that would end inside "ü" stops before it.
    let first = env.app.get(&format!("/v2/jobs/{id}/output?limit=9")).await.expect(200)["output"].clone();
    assert_eq!((first["data"].as_str(), first["next_offset"].as_u64()), (Some("apple\t3\n"), Some(8)), "{first}");
    let rest = env.app.get(&format!("/v2/jobs/{id}/output?offset=8&limit=100")).await.expect(200)["output"].clone();
    assert_eq!((rest["data"].as_str(), rest["complete"].as_bool()), (Some("über\t1\n"), Some(true)), "{rest}");
    let ranged = env.oozie.requests().iter().any(|r| {
        r.path.contains("part-00001")
            && r.query.contains("op=OPEN")
            && r.query.contains("offset=0")
            && r.query.contains("length=8")
    });
    assert!(ranged, "the second part is opened for the bytes asked for only");
}
