//! A cluster's `cluster_configs` for this engine, their schema, and the
//! check run when a cluster is registered.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::{ClusterCheck, Object};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::checks;
use crate::settings::Settings;

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    work_dir: Option<PathBuf>,
    shell: Option<String>,
    python: Option<String>,
    java: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

impl ClusterConfig {
    pub fn parse(configs: &Object) -> Result<Self> {
        let config: Self = serde_json::from_value(Value::Object(configs.clone()))
            .map_err(|e| Error::invalid_input(format!("cluster_configs: {e}")))?;
        if let Some(dir) = &config.work_dir {
            // A relative one would move with edpd's working directory.
            if !dir.is_absolute() {
                return Err(Error::invalid_input(format!(
                    "cluster_configs.work_dir must be an absolute path, not `{}`",
                    dir.display()
                )));
            }
        }
        for (key, value) in [("shell", &config.shell), ("python", &config.python), ("java", &config.java)] {
            if value.as_ref().is_some_and(|p| p.is_empty() || p.contains('\0')) {
                return Err(Error::invalid_input(format!("cluster_configs.{key} must name a program")));
            }
        }
        for (name, value) in &config.env {
            checks::env_name(name, "cluster_configs.env")?;
            checks::no_nul(value, &format!("cluster_configs.env.{name}"))?;
        }
        Ok(config)
    }

    pub fn work_dir(&self, settings: &Settings) -> PathBuf {
        self.work_dir.clone().unwrap_or_else(|| settings.work_dir.clone())
    }

    pub fn shell(&self) -> &str {
        self.shell.as_deref().unwrap_or("/bin/sh")
    }

    pub fn python(&self) -> &str {
        self.python.as_deref().unwrap_or("python3")
    }

    pub fn java(&self) -> &str {
        self.java.as_deref().unwrap_or("java")
    }

    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Blocking: creates the work directory and writes in it.
    pub fn check(&self, settings: &Settings) -> ClusterCheck {
        let work_dir = self.work_dir(settings);
        let mut info = Object::new();
        info.insert("work_dir".into(), json!(work_dir));
        let path = self.env.get("PATH").map(OsString::from).or_else(|| std::env::var_os("PATH"));
        let mut interpreters = Object::new();
        for (key, program) in [("shell", self.shell()), ("python", self.python()), ("java", self.java())] {
            let found = find_program(program, path.as_deref()).map(|p| p.display().to_string());
            interpreters.insert(key.into(), json!({ "command": program, "found": found }));
        }
        info.insert("interpreters".into(), Value::Object(interpreters));
        let reason = writable(&work_dir).err().map(|e| format!("work directory `{}`: {e}", work_dir.display()));
        ClusterCheck { ok: reason.is_none(), reason, info }
    }
}

pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "work_dir": {
                "type": "string",
                "description": "Absolute directory for job directories; default: the engine's work_dir setting"
            },
            "shell": { "type": "string", "description": "Interpreter of Shell jobs", "default": "/bin/sh" },
            "python": { "type": "string", "description": "Interpreter of Python jobs", "default": "python3" },
            "java": { "type": "string", "description": "Java launcher of Java jobs", "default": "java" },
            "env": {
                "type": "object",
                "description": "Environment variables added to every job",
                "additionalProperties": { "type": "string" }
            }
        }
    })
}

fn writable(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".edp-write-check-{}", std::process::id()));
    OpenOptions::new().write(true).create(true).truncate(true).open(&probe)?;
    fs::remove_file(&probe)
}

/// Where `program` would be found, as `execvp` looks for it.
fn find_program(program: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(path?).map(|dir| dir.join(program)).find(|p| executable(p))
}
