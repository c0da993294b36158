//! The real Apache Spark the tests run against: pyspark from PyPI in a
//! venv on Java 17, set up by scripts/setup-spark.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::build;

/// `$SPARK_HOME`: `EDP_TEST_SPARK_HOME` (set by scripts/test), else what
/// scripts/setup-spark prints (it installs Spark when absent). Panics when
/// Spark cannot be set up: tests that need Spark are never skipped.
pub fn home() -> PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        if let Some(home) = std::env::var_os("EDP_TEST_SPARK_HOME").filter(|h| !h.is_empty()) {
            let home = PathBuf::from(home);
            assert!(
                home.join("bin/spark-submit").is_file(),
                "EDP_TEST_SPARK_HOME={} has no bin/spark-submit",
                home.display()
            );
            return home;
        }
        let script = build::workspace_root().join("scripts/setup-spark");
        let out = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "Spark could not be set up: {} failed:\n{stdout}", script.display());
        let home = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
        assert!(home.join("bin/spark-submit").is_file(), "setup-spark printed no SPARK_HOME: {stdout}");
        home
    })
    .clone()
}

/// The venv's python (`<venv>/lib/python3.x/site-packages/pyspark`), which
/// has pyspark; drivers and workers run PySpark apps with it.
pub fn python() -> String {
    let home = home();
    let venv_python = home.ancestors().nth(4).map(|venv| venv.join("bin/python"));
    match venv_python.filter(|p| p.is_file()) {
        Some(p) => p.display().to_string(),
        None => "python3".into(),
    }
}
