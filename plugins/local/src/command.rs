//! From a job request to what the supervisor will start: argv per job type,
//! the environment additions and the files to stage (and, for a
//! MapReduce.Streaming job, the runner's spec). Pure: validation, dry runs
//! and launches all go through [`plan`], so a dry run shows exactly what a
//! launch starts.

use std::collections::HashSet;
use std::path::PathBuf;

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::{Binary, JobRequest};
use edp_supervised::{JobPlan, JobSpec};
use serde_json::Value;

use crate::checks;
use crate::cluster::ClusterConfig;
use crate::mapreduce::spec::{self as runner_spec, RunnerSpec};
use crate::settings::Settings;
use crate::streaming;

pub const JOB_TYPES: [&str; 4] = ["Shell", "Java", "Python", streaming::JOB_TYPE];

const MAIN_CLASS: &str = "edp.java.main_class";
const JAVA_OPTS: &str = "edp.java.java_opts";
/// Set by the engine; a param of that name would be silently overridden.
const RESERVED_ENV: [&str; 4] = ["EDP_EXECUTION_ID", "EDP_JOB_DIR", "EDP_INPUT", "EDP_OUTPUT"];

#[derive(Debug, Clone)]
pub struct Plan {
    pub job_dir: PathBuf,
    pub spec: JobSpec,
    /// File name in the job directory → the local file it comes from.
    pub files: Vec<(String, PathBuf)>,
    /// A MapReduce.Streaming job's runner spec, written into the job
    /// directory before launch (`mapreduce-spec.json`).
    pub streaming: Option<RunnerSpec>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// What the host supervisor starts.
    pub fn into_job(self) -> JobPlan {
        JobPlan { job_dir: self.job_dir, spec: self.spec, files: self.files }
    }
}

pub fn plan(job: &JobRequest, settings: &Settings) -> Result<Plan> {
    checks::execution_id(&job.execution_id)?;
    if !JOB_TYPES.contains(&job.job_type.as_str()) {
        return Err(Error::unsupported(format!(
            "the local engine runs {} jobs, not `{}`",
            JOB_TYPES.join(", "),
            job.job_type
        )));
    }
    let cluster = ClusterConfig::parse(&job.cluster.configs)?;
    let job_dir = cluster.work_dir(settings).join(&job.execution_id);
    let dir = job_dir
        .to_str()
        .ok_or_else(|| Error::fatal(format!("the work directory `{}` is not UTF-8", job_dir.display())))?;
    let mut warnings = Vec::new();
    let files = staged_files(job)?;
    let mut streaming = None;
    for (i, arg) in job.args.iter().enumerate() {
        checks::no_nul(arg, &format!("argument {}", i + 1))?;
    }
    let in_dir = |b: &Binary| format!("{dir}/{}", b.name);

    let argv = match job.job_type.as_str() {
        "Shell" => {
            let main = one_main(job, "the script")?;
            [cluster.shell().to_owned(), in_dir(main)].into_iter().chain(job.args.iter().cloned()).collect()
        }
        "Python" => {
            let main = one_main(job, "a .py file")?;
            if !main.name.ends_with(".py") {
                warnings.push(format!("the Python main `{}` does not end in .py", main.name));
            }
            [cluster.python().to_owned(), in_dir(main)].into_iter().chain(job.args.iter().cloned()).collect()
        }
        streaming::JOB_TYPE => {
            let runner = settings.mapreduce_runner.as_ref().ok_or_else(|| {
                Error::unsupported(format!(
                    "{} jobs need the `edp-mapreduce` runner installed beside the plugin (or the \
                     `mapreduce_runner` setting of [engines.local])",
                    streaming::JOB_TYPE
                ))
            })?;
            for (name, _) in &files {
                if runner_spec::RESERVED.contains(&name.as_str()) {
                    return Err(Error::invalid_input(format!(
                        "job binary name `{name}` is reserved for the MapReduce runner's files in the job directory"
                    )));
                }
            }
            let spec = streaming::plan(job, &job_dir, &mut warnings)?;
            let argv = vec![runner.display().to_string(), format!("{dir}/{}", runner_spec::SPEC_FILE)];
            streaming = Some(spec);
            argv
        }
        _ => java_argv(job, &cluster, dir, &mut warnings)?,
    };

    let mut env = cluster.env().clone();
    for (name, value) in &job.params {
        checks::env_name(name, "params")?;
        if RESERVED_ENV.contains(&name.as_str()) {
            return Err(Error::invalid_input(format!("param `{name}` is set by the engine and cannot be overridden")));
        }
        env.insert(name.clone(), checks::param_value(name, value)?);
    }
    env.insert("EDP_EXECUTION_ID".into(), job.execution_id.clone());
    env.insert("EDP_JOB_DIR".into(), dir.to_owned());
    for (var, source) in [("EDP_INPUT", &job.input), ("EDP_OUTPUT", &job.output)] {
        if let Some(ds) = source {
            env.insert(var.into(), checks::file_source_path(ds)?);
        }
    }
    if job.job_type == "Python" || job.job_type == streaming::JOB_TYPE {
        // Libs are staged beside the main, so imports of them must resolve.
        let inherited = env.get("PYTHONPATH").cloned().or_else(|| std::env::var("PYTHONPATH").ok());
        let value = match inherited.filter(|p| !p.is_empty()) {
            Some(rest) => format!("{dir}:{rest}"),
            None => dir.to_owned(),
        };
        env.insert("PYTHONPATH".into(), value);
    }

    let spec = JobSpec { argv, env, cwd: job_dir.clone() };
    Ok(Plan { job_dir, spec, files, streaming, warnings })
}

fn java_argv(job: &JobRequest, cluster: &ClusterConfig, dir: &str, warnings: &mut Vec<String>) -> Result<Vec<String>> {
    if !job.mains.is_empty() {
        return Err(Error::invalid_input(
            "a Java job has no mains: put its jars in libs and name the class in configs `edp.java.main_class`",
        ));
    }
    if job.libs.is_empty() {
        return Err(Error::invalid_input("a Java job needs at least one jar in libs"));
    }
    let main_class = match job.configs.get(MAIN_CLASS) {
        Some(Value::String(class)) if !class.trim().is_empty() => class.trim().to_owned(),
        Some(_) => {
            return Err(Error::invalid_input(format!("configs `{MAIN_CLASS}` must be a class name")));
        }
        None => {
            return Err(Error::invalid_input(format!("a Java job needs configs `{MAIN_CLASS}`")));
        }
    };
    checks::no_nul(&main_class, MAIN_CLASS)?;
    let opts: Vec<String> = match job.configs.get(JAVA_OPTS) {
        None => Vec::new(),
        Some(Value::String(opts)) => {
            checks::no_nul(opts, JAVA_OPTS)?;
            opts.split_ascii_whitespace().map(str::to_owned).collect()
        }
        Some(_) => {
            return Err(Error::invalid_input(format!("configs `{JAVA_OPTS}` must be a string")));
        }
    };
    let mut classpath = Vec::with_capacity(job.libs.len());
    for lib in &job.libs {
        if lib.name.contains(':') {
            return Err(Error::invalid_input(format!(
                "lib `{}`: a `:` in its name would split the class path",
                lib.name
            )));
        }
        if !lib.name.ends_with(".jar") {
            warnings.push(format!("lib `{}` does not end in .jar but is put on the class path", lib.name));
        }
        classpath.push(format!("{dir}/{}", lib.name));
    }
    let mut argv = vec![cluster.java().to_owned()];
    argv.extend(opts);
    argv.extend(["-cp".to_owned(), classpath.join(":"), main_class]);
    argv.extend(job.args.iter().cloned());
    Ok(argv)
}

fn one_main<'a>(job: &'a JobRequest, what: &str) -> Result<&'a Binary> {
    match job.mains.as_slice() {
        [main] => Ok(main),
        mains => Err(Error::invalid_input(format!(
            "a {} job needs exactly one main ({what}), not {}",
            job.job_type,
            mains.len()
        ))),
    }
}

fn staged_files(job: &JobRequest) -> Result<Vec<(String, PathBuf)>> {
    let mut seen = HashSet::new();
    let mut files = Vec::with_capacity(job.mains.len() + job.libs.len());
    for binary in job.mains.iter().chain(&job.libs) {
        checks::binary_name(&binary.name)?;
        if !seen.insert(binary.name.as_str()) {
            return Err(Error::invalid_input(format!(
                "two job binaries are named `{}`; they would overwrite each other in the job directory",
                binary.name
            )));
        }
        let Some(path) = &binary.path else {
            return Err(Error::invalid_input(format!(
                "job binary `{}` ({}) has no local copy; the local engine runs only binaries it can read from disk",
                binary.name, binary.url
            )));
        };
        if !path.is_file() {
            return Err(Error::invalid_input(format!(
                "job binary `{}`: `{}` is not a readable file",
                binary.name,
                path.display()
            )));
        }
        files.push((binary.name.clone(), path.clone()));
    }
    Ok(files)
}
