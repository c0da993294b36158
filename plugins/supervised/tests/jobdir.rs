//! Where a job directory is, from a work directory or a handle.

use std::path::Path;

use edp_engine_api::abi::ErrorKind;
use edp_engine_api::wire::{ClusterSpec, JobHandle, Object};
use edp_supervised::{JOB_DIR_KEY, JobDir};
use serde_json::{Value, json};

const ID: &str = "6f1c2d3e-0000-4000-8000-000000000102";

fn handle(id: &str, extra: Value) -> JobHandle {
    JobHandle {
        execution_id: id.into(),
        engine_job_id: "1".into(),
        job_type: "Shell".into(),
        cluster: ClusterSpec { id: "c1".into(), name: "local".into(), configs: Object::new() },
        extra,
        cancel_requested: false,
    }
}

#[test]
fn a_work_dir_holds_one_directory_per_execution() {
    let dir = JobDir::in_work_dir(Path::new("/srv/jobs"), ID).expect("a valid id");
    assert_eq!(dir.path(), Path::new("/srv/jobs").join(ID));
    let err = JobDir::in_work_dir(Path::new("/srv/jobs"), "../etc").expect_err("an id with a path in it");
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
}

#[test]
fn a_handle_names_only_its_own_execution_s_directory() {
    let recorded = format!("/srv/jobs/{ID}");
    let dir = JobDir::recorded(&handle(ID, json!({ JOB_DIR_KEY: recorded }))).expect("recorded").expect("a dir");
    assert_eq!(dir.path(), Path::new(&recorded));

    assert!(JobDir::recorded(&handle(ID, json!({}))).expect("no record").is_none());
    assert!(JobDir::recorded(&handle(ID, Value::Null)).expect("no extra").is_none());

    let other = "/srv/jobs/6f1c2d3e-0000-4000-8000-000000000999";
    for bad in
        [json!({ JOB_DIR_KEY: other }), json!({ JOB_DIR_KEY: format!("jobs/{ID}") }), json!({ JOB_DIR_KEY: "/" })]
    {
        let err = JobDir::recorded(&handle(ID, bad.clone())).expect_err("someone else's directory");
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT, "{bad}");
    }
    let err = JobDir::recorded(&handle("../../etc", json!({ JOB_DIR_KEY: "/etc" }))).expect_err("a bad id");
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
}
