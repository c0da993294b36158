//! Job files: a job's defaults and per-environment overlays, in YAML (or
//! TOML when the name ends in `.toml`). A layer is every submit option;
//! the file is a layer, each `environments.<name>` a layer over it, and the
//! command line's flags a last layer over both. Maps (configs, params,
//! resources) merge key by key; lists (mains, libs, args) and single values
//! are replaced whole.
//!
//! Unknown keys are refused with the file, line and column: a misspelt key
//! silently ignored would run a job other than the one the file describes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;

use crate::error::{Failure, Result};

#[derive(Deserialize, Default, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// The template name.
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub cluster: Option<String>,
    /// Local files (relative to the job file), URLs, or job binary names.
    #[serde(default, alias = "main", deserialize_with = "one_or_many")]
    pub mains: Option<Vec<String>>,
    #[serde(default, alias = "lib", deserialize_with = "one_or_many")]
    pub libs: Option<Vec<String>>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub configs: Option<BTreeMap<String, Scalar>>,
    pub params: Option<BTreeMap<String, Scalar>>,
    pub args: Option<Vec<Scalar>>,
    pub resources: Option<Resources>,
    /// Overlays, chosen with `--env NAME`. Only at the top level.
    pub environments: Option<BTreeMap<String, Layer>>,
}

/// What schedulers call resources; mapped to engine configs by `submit`.
#[derive(Deserialize, Default, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub queue: Option<String>,
    pub num_executors: Option<u32>,
    pub executor_memory: Option<String>,
    pub driver_memory: Option<String>,
}

/// A config, param or argument value: Sahara takes strings and numbers
/// (booleans pass). A nested map or list is an error at its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub Value);

impl Scalar {
    pub fn text(s: impl Into<String>) -> Self {
        Self(Value::String(s.into()))
    }

    /// As a command-line argument: numbers and booleans in their usual form.
    pub fn to_arg(&self) -> String {
        match &self.0 {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Scalar, E> {
                Ok(Scalar::text(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Scalar, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| Scalar(Value::Number(n)))
                    .ok_or_else(|| E::custom("a number must be finite"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `main: run.sh` or `mains: [a.py, b.py]`.
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a file or URL, or a list of them")]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Some(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }))
}

impl Layer {
    /// Puts `top` over `self`.
    pub fn overlay(&mut self, top: Layer) {
        fn set<T>(slot: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        fn merge(slot: &mut Option<BTreeMap<String, Scalar>>, value: Option<BTreeMap<String, Scalar>>) {
            if let Some(value) = value {
                slot.get_or_insert_with(BTreeMap::new).extend(value);
            }
        }
        set(&mut self.name, top.name);
        set(&mut self.kind, top.kind);
        set(&mut self.description, top.description);
        set(&mut self.cluster, top.cluster);
        set(&mut self.mains, top.mains);
        set(&mut self.libs, top.libs);
        set(&mut self.input, top.input);
        set(&mut self.output, top.output);
        merge(&mut self.configs, top.configs);
        merge(&mut self.params, top.params);
        set(&mut self.args, top.args);
        if let Some(r) = top.resources {
            let mine = self.resources.get_or_insert_with(Resources::default);
            set(&mut mine.queue, r.queue);
            set(&mut mine.num_executors, r.num_executors);
            set(&mut mine.executor_memory, r.executor_memory);
            set(&mut mine.driver_memory, r.driver_memory);
        }
    }

    /// Relative paths of local binaries are relative to the job file, so a
    /// job file works from any directory. Entries that name no file there
    /// are left alone (they may be URLs or job binary names).
    pub(crate) fn anchor_paths(&mut self, dir: &Path) {
        for list in [&mut self.mains, &mut self.libs].into_iter().flatten() {
            for entry in list.iter_mut() {
                if entry.contains("://") || Path::new(entry.as_str()).is_absolute() {
                    continue;
                }
                let candidate = dir.join(&*entry);
                if candidate.exists() {
                    *entry = candidate.to_string_lossy().into_owned();
                }
            }
        }
    }
}

/// Reads `path` and applies the overlay of `env`, if given.
pub fn load(path: &Path, env: Option<&str>) -> Result<Layer> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read the job file {}: {e}", path.display())))?;
    let mut layer: Layer = parse(&text, path)?;
    let mut environments = layer.environments.take().unwrap_or_default();
    for (name, overlay) in &environments {
        if overlay.environments.is_some() {
            return Err(Failure::usage(format!(
                "{}: environments.{name}.environments: environments cannot be nested",
                path.display()
            )));
        }
    }
    if let Some(env) = env {
        let overlay = environments.remove(env).ok_or_else(|| {
            let known: Vec<&String> = environments.keys().collect();
            Failure::usage(if known.is_empty() {
                format!("{} has no environments; --env {env} cannot apply", path.display())
            } else {
                format!(
                    "{} has no environment `{env}`; it has: {}",
                    path.display(),
                    known.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )
            })
        })?;
        layer.overlay(overlay);
    }
    layer.anchor_paths(dir_of(path));
    Ok(layer)
}

/// The directory a file's relative paths are relative to.
pub(crate) fn dir_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A job or flow file: TOML when the name ends in `.toml`, else YAML. Errors
/// name the file, line and column.
pub(crate) fn parse<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    let shown = path.display().to_string();
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
        // toml's message already holds "at line L, column C" and a snippet.
        return toml::from_str(text).map_err(|e| Failure::usage(format!("{shown}: {}", e.to_string().trim_end())));
    }
    serde_saphyr::from_str(text).map_err(|e| {
        let options = serde_saphyr::render_options! { source_name: Some(shown.as_str()) };
        let rendered = e.render_with_options(options);
        // The first line as `file:line:col: message`, like a compiler, then
        // the snippet.
        match e.location() {
            Some(at) => {
                let first = rendered.lines().next().unwrap_or_default();
                let message = first.split_once(": ").map(|(_, rest)| rest).unwrap_or(first);
                let message = strip_location(message);
                let rest: Vec<&str> = rendered.lines().skip(1).collect();
                Failure::usage(format!("{shown}:{}:{}: {message}\n{}", at.line(), at.column(), rest.join("\n")))
            }
            None => Failure::usage(format!("{shown}: {rendered}")),
        }
    })
}

/// `line 9 column 5: unknown field` → `unknown field`.
fn strip_location(message: &str) -> &str {
    if message.starts_with("line ")
        && let Some((_, rest)) = message.split_once(": ")
    {
        return rest;
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn overlays_merge_maps_and_replace_lists() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "job.yaml",
            "name: wc\ntype: Shell\nmain: run.sh\nargs: [a, 1]\nparams: {A: x, B: y}\nresources: {queue: dev}\n\
             environments:\n  prod:\n    cluster: big\n    args: [b]\n    params: {B: z}\n    resources: {num_executors: 8}\n",
        );
        let layer = load(&path, Some("prod")).unwrap();
        assert_eq!(layer.cluster.as_deref(), Some("big"));
        assert_eq!(layer.args, Some(vec![Scalar::text("b")]));
        let params = layer.params.unwrap();
        assert_eq!(params["A"], Scalar::text("x"));
        assert_eq!(params["B"], Scalar::text("z"));
        let resources = layer.resources.unwrap();
        assert_eq!(resources.queue.as_deref(), Some("dev"));
        assert_eq!(resources.num_executors, Some(8));
        assert_eq!(layer.mains, Some(vec!["run.sh".to_string()]));

        let plain = load(&path, None).unwrap();
        assert_eq!(plain.args.unwrap()[1].to_arg(), "1");
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "job.yaml", "name: wc\ntype: Shell\nclustr: local\n");
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.contains("clustr") && err.contains("job.yaml:3:1"), "{err}");

        let path =
            write(dir.path(), "nested.yaml", "name: wc\nenvironments:\n  prod:\n    resources:\n      cores: 3\n");
        let err = load(&path, Some("prod")).unwrap_err().to_string();
        assert!(err.contains("cores") && err.contains("nested.yaml:5:"), "{err}");

        let path = write(dir.path(), "job.toml", "name = \"wc\"\n\n[resources]\ncores = 3\n");
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.contains("cores") && err.contains("line 4"), "{err}");
    }

    #[test]
    fn values_must_be_scalars() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "job.yaml", "configs:\n  a: {b: c}\n");
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.contains("job.yaml:2:"), "{err}");
    }

    #[test]
    fn unknown_environment_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "job.yaml", "environments:\n  prod: {}\n  dev: {}\n");
        let err = load(&path, Some("staging")).unwrap_err().to_string();
        assert!(err.contains("dev, prod"), "{err}");
    }

    #[test]
    fn paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "run.sh", "echo hi\n");
        let path = write(dir.path(), "job.yaml", "mains: [run.sh, hdfs://nn/x.jar, some-binary]\n");
        let layer = load(&path, None).unwrap();
        let mains = layer.mains.unwrap();
        assert_eq!(mains[0], dir.path().join("run.sh").to_string_lossy());
        assert_eq!(mains[1], "hdfs://nn/x.jar");
        assert_eq!(mains[2], "some-binary");
    }
}
