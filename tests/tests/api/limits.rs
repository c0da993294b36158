//! edpd's own resource limits.

use edp_tests::TestApp;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// `Max open files  <soft>  <hard>  files` from /proc/<pid>/limits.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc/<pid>/limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("the open-files line");
    let mut values = line["Max open files".len()..].split_whitespace();
    (values.next().expect("soft").to_string(), values.next().expect("hard").to_string())
}

#[tokio::test]
async fn edpd_raises_its_open_file_soft_limit_to_the_hard_limit() {
    // Each test is a process of its own (nextest), so lowering this one's
    // soft limit hands edpd a low one to start from.
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum;
    if hard.is_none_or(|h| h > 256) {
        setrlimit(Resource::Nofile, Rlimit { current: Some(256), maximum: hard }).expect("lower the soft limit");
    }
    let app = TestApp::spawn().await;
    let (soft, hard) = open_file_limits(app.pid().expect("edpd runs"));
    assert_eq!(soft, hard, "edpd's open-file soft limit should be its hard limit");
    assert_ne!(soft, "256");
}
