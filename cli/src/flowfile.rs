//! Flow files: several jobs submitted as one (`edp flow submit`), in YAML
//! (or TOML when the name ends in `.toml`).
//!
//! ```yaml
//! name: diamond                # the flow's name [default: the file's stem]
//! use_existing: false          # --use-existing
//! force: []                    # --force KEY
//! defaults: {type: Shell}      # a job layer under every job
//! jobs:                        # in order; each takes a job file's keys
//!   a: {main: a.sh, outputs: [/data/a]}
//!   b: {main: b.sh, inputs: [/data/a], outputs: [/data/b]}
//! environments:                # overlays, chosen with --env
//!   prod: {defaults: {cluster: yarn-prod}, jobs: {b: {args: [--full]}}}
//! ```
//!
//! A job's layers apply in order: `defaults`, the environment's `defaults`,
//! the job, the environment's entry for the job. A job's own keys win over
//! the defaults; within each, the environment wins over the base file. Maps
//! merge key by key, lists and single values are replaced whole, as in job
//! files. Unknown keys are errors naming the file, line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::error::{Failure, Result};
use crate::jobfile::{self, Layer, Resources, Scalar, one_or_many};

/// The longest name edpd takes (flows, flow job keys, templates).
pub const NAME_MAX: usize = 80;

/// The file, or one of its `environments.<name>` overlays.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct FlowLayer {
    /// The flow's name.
    pub name: Option<String>,
    pub use_existing: Option<bool>,
    /// Keys of jobs to run even when their outputs exist.
    pub force: Option<Vec<String>>,
    /// Keys every job takes unless it says otherwise (no inputs or outputs).
    pub defaults: Option<FlowJob>,
    pub jobs: Option<Jobs>,
    /// Overlays, chosen with `--env NAME`. Only at the top level.
    pub environments: Option<BTreeMap<String, FlowLayer>>,
}

/// One job of a flow file: a job file's keys (without `environments`) plus
/// the data it reads and writes.
#[derive(Deserialize, Default, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowJob {
    /// The template name [default: `<flow>-<key>`].
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub cluster: Option<String>,
    #[serde(default, alias = "main", deserialize_with = "one_or_many")]
    pub mains: Option<Vec<String>>,
    #[serde(default, alias = "lib", deserialize_with = "one_or_many")]
    pub libs: Option<Vec<String>>,
    /// Data source names, ids or URLs it reads.
    #[serde(default, alias = "input", deserialize_with = "one_or_many")]
    pub inputs: Option<Vec<String>>,
    /// Data source names, ids or URLs it writes.
    #[serde(default, alias = "output", deserialize_with = "one_or_many")]
    pub outputs: Option<Vec<String>>,
    pub configs: Option<BTreeMap<String, Scalar>>,
    pub params: Option<BTreeMap<String, Scalar>>,
    pub args: Option<Vec<Scalar>>,
    pub resources: Option<Resources>,
}

impl FlowJob {
    /// The job-file part, and the inputs and outputs.
    fn split(self) -> (Layer, Option<Vec<String>>, Option<Vec<String>>) {
        let layer = Layer {
            name: self.name,
            kind: self.kind,
            description: self.description,
            cluster: self.cluster,
            mains: self.mains,
            libs: self.libs,
            input: None,
            output: None,
            configs: self.configs,
            params: self.params,
            args: self.args,
            resources: self.resources,
            environments: None,
        };
        (layer, self.inputs, self.outputs)
    }
}

/// `jobs:`, a map kept in the file's order (the order `flow status` shows
/// roots and siblings in).
#[derive(Debug, Clone, Default)]
pub struct Jobs(pub Vec<(String, FlowJob)>);

impl<'de> Deserialize<'de> for Jobs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Jobs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map from job keys to jobs")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Jobs, A::Error> {
                let mut jobs: Vec<(String, FlowJob)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if jobs.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("job `{key}` appears twice")));
                    }
                    let job = map.next_value::<Option<FlowJob>>()?.unwrap_or_default();
                    jobs.push((key, job));
                }
                Ok(Jobs(jobs))
            }
        }
        d.deserialize_map(V)
    }
}

/// A flow, resolved: every layer applied, in the file's job order.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub use_existing: bool,
    pub force: Vec<String>,
    pub jobs: Vec<Step>,
}

/// One job, resolved: what `submit` would take, plus its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub key: String,
    pub layer: Layer,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// Reads `path` and applies the overlay of `env`, if given.
pub fn load(path: &Path, env: Option<&str>) -> Result<Flow> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read the flow file {shown}: {e}")))?;
    let mut file: FlowLayer = jobfile::parse(&text, path)?;
    let mut environments = file.environments.take().unwrap_or_default();
    for (name, overlay) in &environments {
        if overlay.environments.is_some() {
            return Err(Failure::usage(format!(
                "{shown}: environments.{name}.environments: environments cannot be nested"
            )));
        }
    }
    let overlay = match env {
        None => FlowLayer::default(),
        Some(env) => environments.remove(env).ok_or_else(|| {
            let known: Vec<&str> = environments.keys().map(String::as_str).collect();
            Failure::usage(if known.is_empty() {
                format!("{shown} has no environments; --env {env} cannot apply")
            } else {
                format!("{shown} has no environment `{env}`; it has: {}", known.join(", "))
            })
        })?,
    };
    let where_ = |part: &str| match env {
        Some(env) => format!("{shown}: environments.{env}.{part}"),
        None => format!("{shown}: {part}"),
    };

    let name = match overlay.name.or(file.name) {
        Some(name) => name,
        // The file's stem, as edpd takes names.
        None => crate::cmd::sanitize(&path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()),
    };
    let base_jobs = file.jobs.unwrap_or_default().0;
    if base_jobs.is_empty() {
        return Err(Failure::usage(format!("{shown}: a flow needs at least one job under `jobs:`")));
    }
    let mut env_jobs = overlay.jobs.unwrap_or_default().0;
    if let Some((key, _)) = env_jobs.iter().find(|(k, _)| !base_jobs.iter().any(|(b, _)| b == k)) {
        return Err(Failure::usage(format!("{}: the flow has no job `{key}`", where_(&format!("jobs.{key}")))));
    }
    let mut defaults = Vec::new();
    for (label, layer) in [(format!("{shown}: defaults"), file.defaults), (where_("defaults"), overlay.defaults)] {
        if let Some(layer) = layer {
            if layer.inputs.is_some() || layer.outputs.is_some() {
                return Err(Failure::usage(format!(
                    "{label}: inputs and outputs belong to each job, not to the defaults"
                )));
            }
            defaults.push(layer.split().0);
        }
    }

    let dir = jobfile::dir_of(path);
    let mut jobs = Vec::new();
    for (key, job) in base_jobs {
        let mut layer = Layer::default();
        for d in &defaults {
            layer.overlay(d.clone());
        }
        let (own, mut inputs, mut outputs) = job.split();
        layer.overlay(own);
        if let Some(i) = env_jobs.iter().position(|(k, _)| *k == key) {
            let (own, env_inputs, env_outputs) = env_jobs.remove(i).1.split();
            layer.overlay(own);
            inputs = env_inputs.or(inputs);
            outputs = env_outputs.or(outputs);
        }
        layer.anchor_paths(dir);
        jobs.push(Step { key, layer, inputs: inputs.unwrap_or_default(), outputs: outputs.unwrap_or_default() });
    }
    Ok(Flow {
        name,
        use_existing: overlay.use_existing.or(file.use_existing).unwrap_or(false),
        force: overlay.force.or(file.force).unwrap_or_default(),
        jobs,
    })
}

/// Whether edpd takes `name` as a name: letters, digits, `-`, `_`, `.`,
/// starting with a letter or digit, at most [`NAME_MAX`] characters.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.len() <= NAME_MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const DIAMOND: &str = "\
defaults:
  type: Shell
  main: step.sh
  params: {MODE: dev, LEVEL: 1}
jobs:
  a: {outputs: /w/a}
  c:
    inputs: [/w/a]
    output: /w/c
    params: {LEVEL: 2}
  b: {inputs: [/w/a], outputs: [/w/b], cluster: small}
  d:
    inputs: [/w/b, /w/c]
    outputs: [/w/d]
environments:
  prod:
    use_existing: true
    defaults: {cluster: big, params: {MODE: prod}}
    jobs:
      d: {args: [--full]}
";

    #[test]
    fn layers_apply_in_order_and_jobs_keep_the_files_order() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "step.sh", "echo\n");
        let path = write(dir.path(), "diamond.yaml", DIAMOND);

        let flow = load(&path, None).unwrap();
        assert_eq!(flow.name, "diamond", "the name defaults to the file's stem");
        assert!(!flow.use_existing);
        let keys: Vec<&str> = flow.jobs.iter().map(|j| j.key.as_str()).collect();
        assert_eq!(keys, ["a", "c", "b", "d"]);
        let c = &flow.jobs[1];
        assert_eq!(c.inputs, ["/w/a"]);
        assert_eq!(c.outputs, ["/w/c"]);
        assert_eq!(c.layer.params.as_ref().unwrap()["LEVEL"], Scalar(2.into()));
        assert_eq!(c.layer.params.as_ref().unwrap()["MODE"], Scalar::text("dev"));
        assert_eq!(c.layer.mains, Some(vec![dir.path().join("step.sh").to_string_lossy().into_owned()]));
        assert_eq!(flow.jobs[0].outputs, ["/w/a"]);

        let prod = load(&path, Some("prod")).unwrap();
        assert!(prod.use_existing);
        // The job's own cluster wins over the environment's defaults.
        assert_eq!(prod.jobs[2].layer.cluster.as_deref(), Some("small"));
        assert_eq!(prod.jobs[0].layer.cluster.as_deref(), Some("big"));
        assert_eq!(prod.jobs[3].layer.args, Some(vec![Scalar::text("--full")]));
        assert_eq!(prod.jobs[3].inputs, ["/w/b", "/w/c"], "an overlay without inputs keeps them");
        assert_eq!(prod.jobs[1].layer.params.as_ref().unwrap()["MODE"], Scalar::text("prod"));
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "f.yaml", "jobs:\n  a:\n    type: Shell\n    clustr: local\n");
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.contains("clustr") && err.contains("f.yaml:4:"), "{err}");

        let path = write(dir.path(), "top.yaml", "name: x\nuse_exsting: true\njobs: {a: {}}\n");
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.contains("top.yaml:2:"), "{err}");

        let path = write(dir.path(), "f.toml", "name = \"x\"\n[jobs.a]\ntype = \"Shell\"\nmian = \"a.sh\"\n");
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.contains("mian") && err.contains("line 4"), "{err}");
    }

    #[test]
    fn mistakes_the_schema_cannot_see_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "empty.yaml", "name: x\n");
        assert!(load(&path, None).unwrap_err().to_string().contains("at least one job"));

        let path = write(dir.path(), "d.yaml", "defaults: {outputs: [/x]}\njobs: {a: {}}\n");
        assert!(load(&path, None).unwrap_err().to_string().contains("belong to each job"));

        let path = write(dir.path(), "e.yaml", "jobs: {a: {}}\nenvironments:\n  prod:\n    jobs: {b: {}}\n");
        let err = load(&path, Some("prod")).unwrap_err().to_string();
        assert!(err.contains("environments.prod.jobs.b") && err.contains("no job `b`"), "{err}");

        let err = load(&path, Some("staging")).unwrap_err().to_string();
        assert!(err.contains("no environment `staging`") && err.contains("prod"), "{err}");

        let path = write(dir.path(), "dup.yaml", "jobs:\n  a: {}\n  a: {}\n");
        let err = load(&path, None).unwrap_err().to_string();
        assert!(err.contains("dup.yaml:3:"), "{err}");
    }

    #[test]
    fn toml_jobs_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "f.toml",
            "name = \"t\"\n[defaults]\ntype = \"Shell\"\n[jobs.zeta]\noutputs = [\"/z\"]\n[jobs.alpha]\ninputs = [\"/z\"]\n",
        );
        let flow = load(&path, None).unwrap();
        let keys: Vec<&str> = flow.jobs.iter().map(|j| j.key.as_str()).collect();
        assert_eq!(keys, ["zeta", "alpha"]);
    }

    #[test]
    fn names() {
        assert!(valid_name("daily-etl_2.x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(81)));
    }
}
