//! Where the binaries the tests run are, and building them once.
//!
//! `cargo test` does not build cdylibs or other packages' binaries, so the
//! first test in a process runs `cargo build` for what it needs (a no-op
//! when up to date; cargo's own lock serialises concurrent test processes).
//! `scripts/test` builds everything first and sets `EDP_TEST_PREBUILT=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// The profile directory holding edpd and the plugins.
pub fn profile_dir() -> PathBuf {
    ensure_built();
    target_dir().join(profile())
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) { "debug" } else { "release" }
}

pub fn edpd() -> PathBuf {
    profile_dir().join("edpd")
}

/// A real plugin, `libedp_engine_<id>.so` of package `edp-engine-<id>`,
/// built first if need be.
pub fn engine_plugin(id: &str) -> PathBuf {
    ensure_package_built(&format!("edp-engine-{id}"));
    profile_dir().join(format!("libedp_engine_{id}.{}", std::env::consts::DLL_EXTENSION))
}

/// The job supervisor the local and spark engines run jobs under (a binary
/// of edp-supervised), looked for beside the plugin.
pub fn supervisor() -> PathBuf {
    ensure_package_built("edp-supervised");
    profile_dir().join("edp-supervisor")
}

/// The local engine's MapReduce.Streaming runner (a binary of
/// edp-engine-local), looked for beside the plugin.
pub fn mapreduce_runner() -> PathBuf {
    ensure_package_built("edp-engine-local");
    profile_dir().join("edp-mapreduce")
}

/// A test fixture plugin from tests/fixtures: `libedp_fixture_<name>.so`.
pub fn fixture_plugin(name: &str) -> PathBuf {
    ensure_fixtures_built();
    target_dir()
        .join("fixtures")
        .join(profile())
        .join(format!("libedp_fixture_{name}.{}", std::env::consts::DLL_EXTENSION))
}

/// The example engine (examples/engine-example), a Cargo project of its own
/// as a plugin author's is. It shares target/fixtures with the fixtures, so
/// that abi_stable and tokio compile once for both. `scripts/test` builds it
/// first; otherwise it is built here (a no-op when up to date), and only
/// when missing under `EDP_TEST_PREBUILT`.
pub fn example_plugin() -> PathBuf {
    let plugin = target_dir()
        .join("fixtures")
        .join(profile())
        .join(format!("libedp_engine_example.{}", std::env::consts::DLL_EXTENSION));
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("EDP_TEST_PREBUILT").is_some() && plugin.exists() {
            return;
        }
        let release = (profile() == "release").then_some("--release");
        let manifest = workspace_root().join("examples/engine-example/Cargo.toml");
        let target = target_dir().join("fixtures");
        cargo(
            &[
                &[
                    "build",
                    "--manifest-path",
                    manifest.to_str().expect("utf-8 path"),
                    "--target-dir",
                    target.to_str().expect("utf-8 path"),
                ][..],
                release.as_slice(),
            ]
            .concat(),
        );
    });
    plugin
}

pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("EDP_TEST_PREBUILT").is_some() {
            return;
        }
        let release = (profile() == "release").then_some("--release");
        // Only edpd: each plugin is built when a test asks for it, so one
        // engine's suite does not wait on every other engine's build.
        cargo(&[&["build", "-p", "edp-server"][..], release.as_slice()].concat());
    });
}

/// Builds one more workspace package (a plugin, the CLI) for the tests
/// that need it; once per package per test process.
pub fn ensure_package_built(package: &str) {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if std::env::var_os("EDP_TEST_PREBUILT").is_some() {
        return;
    }
    let mut built = BUILT.lock().expect("build lock");
    if built.iter().any(|p| p == package) {
        return;
    }
    let release = (profile() == "release").then_some("--release");
    cargo(&[&["build", "-p", package][..], release.as_slice()].concat());
    built.push(package.to_string());
}

/// A file in the profile directory (a binary, a plugin) built by
/// [`ensure_package_built`].
pub fn artifact(name: &str) -> PathBuf {
    target_dir().join(profile()).join(name)
}

/// The fixture plugins are a workspace of their own (tests/fixtures).
pub fn ensure_fixtures_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("EDP_TEST_PREBUILT").is_some() {
            return;
        }
        let release = (profile() == "release").then_some("--release");
        let fixtures = workspace_root().join("tests/fixtures/Cargo.toml");
        let fixture_target = target_dir().join("fixtures");
        cargo(
            &[
                &[
                    "build",
                    "--manifest-path",
                    fixtures.to_str().expect("utf-8 path"),
                    "--target-dir",
                    fixture_target.to_str().expect("utf-8 path"),
                ][..],
                release.as_slice(),
            ]
            .concat(),
        );
    });
}

fn cargo(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo).args(args).current_dir(workspace_root()).output().expect("cargo runs");
    assert!(out.status.success(), "cargo {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}
