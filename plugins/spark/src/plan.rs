//! From a job request to what is submitted: the spark-submit argv, or the
//! body of a REST `CreateSubmissionRequest`. Pure: validation, dry runs and
//! launches all go through [`plan`], so a dry run shows exactly what a
//! launch submits.
//!
//! The rules:
//! - One main: a `.py` file (a PySpark app) or a jar (`edp.java.main_class`
//!   names its class). Libs: `.py`/`.zip`/`.egg` of a Python app go to
//!   `--py-files`, everything else to `--jars`.
//! - Binaries edpd staged locally are linked into the job directory and
//!   named by that path; others (`hdfs://...`) by their URL.
//! - Properties: the cluster's `spark.*` defaults, overridden by the job's
//!   `spark.*` configs, overridden by the dedicated `edp.spark.*` configs
//!   (num_executors, executor_cores, executor_memory, driver_memory, queue).
//!   spark-submit gets the resource ones as their own flags and the rest as
//!   `--conf`, sorted by key.
//! - Data sources, Sahara's rule: the app gets nothing unless its args (or
//!   property values) name them: `datasource://<name>` with
//!   `edp.substitute_data_source_for_name`, the data source's id with
//!   `edp.substitute_data_source_for_uuid`. The value put in is the data
//!   source's URL (a bare path of a `file` source becomes `file://<path>`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::{Binary, DataSource, JobRequest};
use edp_supervised::checks;
use serde_json::{Value, json};

use crate::cluster::{ClusterConfig, DeployMode, SubmitMode, property_value};

pub const JOB_TYPE: &str = "Spark";
pub const MAIN_CLASS: &str = "edp.java.main_class";
/// Set on every app, so that its driver can be found by execution id.
pub const EXECUTION_ID_PROPERTY: &str = "spark.edp.execution_id";
pub const PYTHON_RUNNER: &str = "org.apache.spark.deploy.PythonRunner";
/// Properties that make spark-submit return once a cluster-mode
/// application is submitted, rather than at its end.
const WAIT_FOR_APP: [&str; 2] =
    ["spark.yarn.submit.waitAppCompletion", "spark.kubernetes.submission.waitAppCompletion"];

/// Runs a Python app's main file in REST submissions; see `launcher.py`.
pub const LAUNCHER_NAME: &str = "edp-pyspark-launcher.py";
pub const LAUNCHER_SOURCE: &str = include_str!("launcher.py");
/// The REST submission as made: request, answer, driver id.
pub const SUBMISSION: &str = "submission.json";
/// Written before a REST submission is sent, removed once it is recorded.
pub const SUBMITTING: &str = "submitting";
pub const SUBMIT_LOCK: &str = "submit.lock";
const OWN_FILES: [&str; 4] = [LAUNCHER_NAME, SUBMISSION, SUBMITTING, SUBMIT_LOCK];

/// Job configs that become resource properties (and spark-submit flags).
const DEDICATED: [(&str, &str, Check); 5] = [
    ("edp.spark.num_executors", "spark.executor.instances", Check::Count),
    ("edp.spark.executor_cores", "spark.executor.cores", Check::Count),
    ("edp.spark.executor_memory", "spark.executor.memory", Check::Memory),
    ("edp.spark.driver_memory", "spark.driver.memory", Check::Memory),
    ("edp.spark.queue", "spark.yarn.queue", Check::Text),
];
/// Properties spark-submit takes as flags of their own.
const FLAGS: [(&str, &str); 5] = [
    ("spark.executor.instances", "--num-executors"),
    ("spark.executor.cores", "--executor-cores"),
    ("spark.executor.memory", "--executor-memory"),
    ("spark.driver.memory", "--driver-memory"),
    ("spark.yarn.queue", "--queue"),
];
const SUBSTITUTE_NAME: &str = "edp.substitute_data_source_for_name";
const SUBSTITUTE_UUID: &str = "edp.substitute_data_source_for_uuid";

#[derive(Clone, Copy)]
enum Check {
    Count,
    Memory,
    Text,
}

/// How a launched job is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracking {
    /// The spark-submit process is the job (local, client, and cluster
    /// mode on YARN and Kubernetes, where spark-submit waits for the app).
    Process,
    /// spark-submit only submits (standalone cluster mode): the driver it
    /// names is followed through the master's REST server.
    SubmittedDriver,
    /// Submitted through the REST server by the engine itself.
    Rest,
}

impl Tracking {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Process => "spark-submit",
            Self::SubmittedDriver => "spark-submit-driver",
            Self::Rest => "rest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Process, Self::SubmittedDriver, Self::Rest].into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub job_dir: PathBuf,
    pub tracking: Tracking,
    pub submission: Submission,
    /// File name in the job directory → the local file it comes from.
    pub files: Vec<(String, PathBuf)>,
    /// Files the engine writes into the job directory: name → content.
    pub generated: Vec<(&'static str, &'static str)>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Submission {
    SparkSubmit {
        argv: Vec<String>,
        env: BTreeMap<String, String>,
    },
    /// POST `<rest>/v1/submissions/create` with `body`.
    Rest {
        url: String,
        body: Value,
    },
}

pub fn plan(job: &JobRequest, cluster: &ClusterConfig, default_work_dir: &std::path::Path) -> Result<Plan> {
    checks::execution_id(&job.execution_id)?;
    if job.job_type != JOB_TYPE {
        return Err(Error::unsupported(format!("the spark engine runs Spark jobs, not `{}`", job.job_type)));
    }
    let job_dir = cluster.work_dir(default_work_dir).join(&job.execution_id);
    let dir = job_dir
        .to_str()
        .ok_or_else(|| Error::fatal(format!("the work directory `{}` is not UTF-8", job_dir.display())))?
        .to_owned();
    let mut warnings = Vec::new();
    let mut files = Vec::new();

    let main = match job.mains.as_slice() {
        [main] => main,
        mains => {
            return Err(Error::invalid_input(format!(
                "a Spark job needs exactly one main (the app's jar or .py file), not {}",
                mains.len()
            )));
        }
    };
    let python = main.name.ends_with(".py");
    let mut seen = HashSet::new();
    let mut locate = |b: &Binary| -> Result<String> {
        checks::binary_name(&b.name)?;
        if OWN_FILES.contains(&b.name.as_str()) {
            return Err(Error::invalid_input(format!("job binary name `{}` is reserved by the spark engine", b.name)));
        }
        if !seen.insert(b.name.clone()) {
            return Err(Error::invalid_input(format!(
                "two job binaries are named `{}`; they would overwrite each other in the job directory",
                b.name
            )));
        }
        if b.name.contains(',') {
            return Err(Error::invalid_input(format!("job binary `{}`: a `,` would split Spark's file lists", b.name)));
        }
        match &b.path {
            Some(path) => {
                if !path.is_file() {
                    return Err(Error::invalid_input(format!(
                        "job binary `{}`: `{}` is not a readable file",
                        b.name,
                        path.display()
                    )));
                }
                files.push((b.name.clone(), path.clone()));
                Ok(format!("{dir}/{}", b.name))
            }
            None if b.url.contains("://") && !b.url.contains(',') => Ok(b.url.clone()),
            None => {
                Err(Error::invalid_input(format!("job binary `{}` ({}) has no location Spark can read", b.name, b.url)))
            }
        }
    };
    let main_location = locate(main)?;
    let mut jars = Vec::new();
    let mut py_files = Vec::new();
    for lib in &job.libs {
        let location = locate(lib)?;
        let pythonish = [".py", ".zip", ".egg"].iter().any(|ext| lib.name.ends_with(ext));
        if python && pythonish {
            py_files.push(location);
        } else {
            if pythonish {
                warnings.push(format!("lib `{}` goes to --jars: the main is a jar, not a Python app", lib.name));
            } else if !lib.name.ends_with(".jar") {
                warnings.push(format!("lib `{}` does not end in .jar but goes to --jars", lib.name));
            }
            jars.push(location);
        }
    }
    if !python && !main.name.ends_with(".jar") {
        warnings.push(format!("the main `{}` is taken for a jar (a Python app's main ends in .py)", main.name));
    }

    // Job configs.
    let mut properties = cluster.properties.clone();
    let mut dedicated = BTreeMap::new();
    let mut main_class = None;
    let (mut by_name, mut by_uuid) = (false, false);
    for (key, value) in &job.configs {
        match key.as_str() {
            MAIN_CLASS => main_class = Some(nonempty(key, value)?),
            SUBSTITUTE_NAME => by_name = flag(key, value)?,
            SUBSTITUTE_UUID => by_uuid = flag(key, value)?,
            _ if key.starts_with("spark.") => {
                properties.insert(key.clone(), property_value(key, value)?);
            }
            _ => match DEDICATED.iter().find(|(k, _, _)| k == key) {
                Some((_, property, check)) => {
                    dedicated.insert(*property, checked(key, value, *check)?);
                }
                None => warnings.push(format!("config `{key}` is not a Spark property (spark.*) and is ignored")),
            },
        }
    }
    properties.extend(dedicated.into_iter().map(|(k, v)| (k.to_owned(), v)));
    for (key, property, check) in DEDICATED {
        if let Some(value) = properties.get(property) {
            checked(&format!("{property} (or {key})"), &Value::String(value.clone()), check)?;
        }
    }
    if properties.contains_key(EXECUTION_ID_PROPERTY) {
        return Err(Error::invalid_input(format!("`{EXECUTION_ID_PROPERTY}` is set by the engine")));
    }
    // spark-submit is how a YARN or Kubernetes cluster-mode application is
    // followed to its end: one that returns at submission would end the
    // job SUCCEEDED while the application runs on.
    if let Some(key) =
        WAIT_FOR_APP.iter().find(|k| properties.get(**k).is_some_and(|v| v.eq_ignore_ascii_case("false")))
    {
        return Err(Error::invalid_input(format!(
            "`{key}=false` would end the job at the application's submission: edp follows the application through \
             spark-submit to its end (leave it unset)"
        )));
    }
    let main_class = match (python, main_class) {
        (false, Some(class)) => Some(class),
        (false, None) => {
            return Err(Error::invalid_input(format!("a Spark job with a jar main needs configs `{MAIN_CLASS}`")));
        }
        (true, Some(_)) => {
            warnings.push(format!("`{MAIN_CLASS}` is ignored: the main is a Python app"));
            None
        }
        (true, None) => None,
    };

    // Data sources, args.
    let sources = Sources::new(job.input.as_ref(), job.output.as_ref(), by_name, by_uuid)?;
    let mut args = Vec::with_capacity(job.args.len());
    for (i, arg) in job.args.iter().enumerate() {
        checks::no_nul(arg, &format!("argument {}", i + 1))?;
        args.push(sources.substitute(arg)?);
    }
    for value in properties.values_mut() {
        *value = sources.substitute(value)?;
    }
    warnings.extend(sources.unused());

    // What the user set in spark.jars / spark.submit.pyFiles joins the libs.
    if let Some(more) = properties.remove("spark.jars") {
        jars.extend(more.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
    }
    if let Some(more) = properties.remove("spark.submit.pyFiles") {
        py_files.extend(more.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
    }
    let app_name = properties.remove("spark.app.name").unwrap_or_else(|| default_app_name(job));
    let app = App { python, main: main_location, main_class, jars, py_files, properties, args, app_name };

    let (tracking, submission) = match cluster.submit_mode {
        SubmitMode::SparkSubmit => {
            if python && cluster.standalone_cluster() {
                return Err(Error::invalid_input(
                    "spark-submit refuses Python apps in cluster mode on a standalone master: register the cluster \
                     with submit_mode rest (its REST server runs them), or use deploy_mode client",
                ));
            }
            let tracking = if cluster.standalone_cluster() { Tracking::SubmittedDriver } else { Tracking::Process };
            (tracking, spark_submit(&app, cluster, &job.execution_id)?)
        }
        SubmitMode::Rest => (Tracking::Rest, rest(&app, cluster, &job.execution_id, &dir)?),
    };
    let generated =
        if python && tracking == Tracking::Rest { vec![(LAUNCHER_NAME, LAUNCHER_SOURCE)] } else { Vec::new() };
    Ok(Plan { job_dir, tracking, submission, files, generated, warnings })
}

/// An app is named after its job template, as people name what they
/// submit (`--name`, the REST `spark.app.name`), so it reads well in the
/// master's UI and `yarn application -list`; its driver is found again by
/// `spark.edp.execution_id`, not by name. A `spark.app.name` config wins.
fn default_app_name(job: &JobRequest) -> String {
    match job.template_name.trim() {
        "" => format!("edp-{}", job.execution_id),
        name => name.to_owned(),
    }
}

/// The app, whatever submits it.
struct App {
    python: bool,
    main: String,
    main_class: Option<String>,
    jars: Vec<String>,
    py_files: Vec<String>,
    properties: BTreeMap<String, String>,
    args: Vec<String>,
    app_name: String,
}

fn spark_submit(app: &App, cluster: &ClusterConfig, execution_id: &str) -> Result<Submission> {
    let spark_home = cluster.spark_home.as_ref().ok_or_else(|| Error::invalid_input("no spark_home"))?;
    let home = spark_home.to_str().ok_or_else(|| Error::invalid_input("spark_home is not UTF-8"))?;
    let master = cluster.master.clone().ok_or_else(|| Error::invalid_input("no master"))?;
    let mut argv = vec![
        format!("{}/bin/spark-submit", home.trim_end_matches('/')),
        "--master".into(),
        master,
        "--deploy-mode".into(),
        cluster.deploy_mode.as_str().into(),
        "--name".into(),
        app.app_name.clone(),
    ];
    if let Some(class) = &app.main_class {
        argv.extend(["--class".into(), class.clone()]);
    }
    if !app.jars.is_empty() {
        argv.extend(["--jars".into(), app.jars.join(",")]);
    }
    if !app.py_files.is_empty() {
        argv.extend(["--py-files".into(), app.py_files.join(",")]);
    }
    let mut properties = app.properties.clone();
    for (property, flag) in FLAGS {
        if let Some(value) = properties.remove(property) {
            argv.extend([flag.to_owned(), value]);
        }
    }
    if let Some(user) = &cluster.proxy_user {
        argv.extend(["--proxy-user".into(), user.clone()]);
    }
    if let (Some(principal), Some(keytab)) = (&cluster.principal, &cluster.keytab) {
        argv.extend(["--principal".into(), principal.clone(), "--keytab".into(), keytab.clone()]);
    }
    properties.insert(EXECUTION_ID_PROPERTY.into(), execution_id.into());
    for (key, value) in properties {
        argv.extend(["--conf".into(), format!("{key}={value}")]);
    }
    argv.push(app.main.clone());
    argv.extend(app.args.iter().cloned());

    let mut env = cluster.env.clone();
    // bin/spark-submit finds the rest of Spark through it (pitfall P2).
    env.insert("SPARK_HOME".into(), home.to_owned());
    Ok(Submission::SparkSubmit { argv, env })
}

fn rest(app: &App, cluster: &ClusterConfig, execution_id: &str, dir: &str) -> Result<Submission> {
    let base = cluster.rest_base().ok_or_else(|| Error::invalid_input("no rest_url"))?;
    let mut props: BTreeMap<String, String> = app.properties.clone();
    props.insert("spark.app.name".into(), app.app_name.clone());
    props.insert("spark.submit.deployMode".into(), DeployMode::Cluster.as_str().into());
    props.entry("spark.driver.supervise".into()).or_insert_with(|| "false".into());
    if let Some(master) = &cluster.master {
        props.insert("spark.master".into(), master.clone());
    }
    props.insert(EXECUTION_ID_PROPERTY.into(), execution_id.into());
    let (resource, class, args) = if app.python {
        // PythonRunner takes [python file, pyFiles, app args...]; the file is
        // our launcher, which runs the app's main (see launcher.py).
        let launcher = format!("{dir}/{LAUNCHER_NAME}");
        props.insert("spark.submit.pyFiles".into(), app.py_files.join(","));
        if !app.jars.is_empty() {
            props.insert("spark.jars".into(), app.jars.join(","));
        }
        let args = [launcher.clone(), app.py_files.join(","), app.main.clone()]
            .into_iter()
            .chain(app.args.iter().cloned())
            .collect::<Vec<_>>();
        (launcher, PYTHON_RUNNER.to_owned(), args)
    } else {
        // The executors load the app's classes from spark.jars (pitfall P4).
        let jars = std::iter::once(app.main.clone()).chain(app.jars.iter().cloned()).collect::<Vec<_>>();
        props.insert("spark.jars".into(), jars.join(","));
        let class = app.main_class.clone().ok_or_else(|| Error::invalid_input("no main class"))?;
        (app.main.clone(), class, app.args.clone())
    };
    let body = json!({
        "action": "CreateSubmissionRequest",
        "appResource": resource,
        "mainClass": class,
        "appArgs": args,
        "clientSparkVersion": cluster.spark_version,
        "environmentVariables": cluster.env,
        "sparkProperties": props,
    });
    Ok(Submission::Rest { url: format!("{base}/v1/submissions/create"), body })
}

/// The job's input and output, as its args may name them.
struct Sources<'a> {
    list: Vec<(&'a DataSource, String)>,
    by_name: bool,
    by_uuid: bool,
    used: std::cell::RefCell<HashSet<String>>,
}

impl<'a> Sources<'a> {
    fn new(
        input: Option<&'a DataSource>,
        output: Option<&'a DataSource>,
        by_name: bool,
        by_uuid: bool,
    ) -> Result<Self> {
        let mut list = Vec::new();
        for ds in input.into_iter().chain(output) {
            let url = if ds.url.starts_with('/') && ds.kind == "file" {
                format!("file://{}", ds.url)
            } else {
                ds.url.clone()
            };
            checks::no_nul(&url, &format!("data source `{}`", ds.name))?;
            list.push((ds, url));
        }
        Ok(Self { list, by_name, by_uuid, used: Default::default() })
    }

    fn substitute(&self, value: &str) -> Result<String> {
        if self.by_name
            && let Some(name) = value.strip_prefix("datasource://")
        {
            let Some((ds, url)) = self.list.iter().find(|(ds, _)| ds.name == name) else {
                return Err(Error::invalid_input(format!(
                    "`{value}` names no data source of this job: only its input and output can be referred to"
                )));
            };
            self.used.borrow_mut().insert(ds.id.clone());
            return Ok(url.clone());
        }
        if self.by_uuid
            && let Some((ds, url)) = self.list.iter().find(|(ds, _)| ds.id == value)
        {
            self.used.borrow_mut().insert(ds.id.clone());
            return Ok(url.clone());
        }
        Ok(value.to_owned())
    }

    fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.list
            .iter()
            .filter(|(ds, _)| !used.contains(&ds.id))
            .map(|(ds, _)| {
                format!(
                    "data source `{}` is not passed to the app: name it in args as datasource://{} with \
                     {SUBSTITUTE_NAME}=true, or by its id with {SUBSTITUTE_UUID}=true",
                    ds.name, ds.name
                )
            })
            .collect()
    }
}

fn nonempty(key: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() && !s.contains('\0') => Ok(s.trim().to_owned()),
        _ => Err(Error::invalid_input(format!("configs `{key}` must be a non-empty string"))),
    }
}

fn flag(key: &str, value: &Value) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(Error::invalid_input(format!("configs `{key}` must be true or false"))),
    }
}

fn checked(key: &str, value: &Value, check: Check) -> Result<String> {
    let text = property_value(key, value)?;
    let ok = match check {
        Check::Count => text.parse::<u32>().is_ok_and(|n| n > 0),
        // What Spark's byteStringAs reads: digits and an optional unit.
        Check::Memory => {
            let lower = text.to_ascii_lowercase();
            let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let unit = &lower[digits.len()..];
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && ["", "b", "k", "kb", "m", "mb", "g", "gb", "t", "tb", "p", "pb"].contains(&unit)
        }
        Check::Text => !text.trim().is_empty(),
    };
    if !ok {
        let expected = match check {
            Check::Count => "a positive whole number",
            Check::Memory => "an amount of memory such as 512m or 2g",
            Check::Text => "a non-empty string",
        };
        return Err(Error::invalid_input(format!("`{key}` must be {expected}, not `{text}`")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use edp_engine_api::wire::ClusterSpec;

    use super::*;

    fn request(main: &str, configs: Value, args: &[&str]) -> JobRequest {
        JobRequest {
            execution_id: "e-1".into(),
            job_type: "Spark".into(),
            template_name: "t".into(),
            cluster: ClusterSpec::default(),
            mains: vec![Binary { id: "b".into(), name: main.into(), url: format!("hdfs://nn/{main}"), path: None }],
            libs: vec![
                Binary { id: "l1".into(), name: "dep.jar".into(), url: "hdfs://nn/dep.jar".into(), path: None },
                Binary { id: "l2".into(), name: "util.py".into(), url: "hdfs://nn/util.py".into(), path: None },
            ],
            input: Some(DataSource {
                id: "in-id".into(),
                name: "in".into(),
                kind: "file".into(),
                url: "/data/in".into(),
            }),
            output: None,
            configs: configs.as_object().cloned().unwrap_or_default(),
            params: Default::default(),
            args: args.iter().map(|s| s.to_string()).collect(),
            callback: None,
        }
    }

    fn cluster(v: Value) -> ClusterConfig {
        ClusterConfig::parse(v.as_object().expect("object")).expect("valid cluster")
    }

    #[test]
    fn spark_submit_argv() {
        let c =
            cluster(json!({"spark_home": "/spark", "master": "yarn", "deploy_mode": "cluster", "proxy_user": "bob",
            "spark.executor.memory": "1g", "spark.eventLog.enabled": true, "env": {"JAVA_HOME": "/jdk"}}));
        let job = request(
            "app.jar",
            json!({"edp.java.main_class": "a.B", "spark.executor.memory": "2g",
            "edp.spark.num_executors": 3, "edp.substitute_data_source_for_name": true}),
            &["datasource://in", "x"],
        );
        let plan = plan(&job, &c, Path::new("/w")).unwrap();
        assert_eq!(plan.tracking, Tracking::Process);
        let Submission::SparkSubmit { argv, env } = plan.submission else { panic!("not spark-submit") };
        let expected = [
            "/spark/bin/spark-submit",
            "--master",
            "yarn",
            "--deploy-mode",
            "cluster",
            "--name",
            "t",
            "--class",
            "a.B",
            "--jars",
            "hdfs://nn/dep.jar,hdfs://nn/util.py",
            "--num-executors",
            "3",
            "--executor-memory",
            "2g",
            "--proxy-user",
            "bob",
            "--conf",
            "spark.edp.execution_id=e-1",
            "--conf",
            "spark.eventLog.enabled=true",
            "hdfs://nn/app.jar",
            "file:///data/in",
            "x",
        ];
        assert_eq!(argv, expected);
        assert_eq!(env["SPARK_HOME"], "/spark");
        assert_eq!(env["JAVA_HOME"], "/jdk");
    }

    #[test]
    fn python_and_rest() {
        let c = cluster(json!({"submit_mode": "rest", "rest_url": "http://m:6066", "master": "spark://m:7077"}));
        let job = request("app.py", json!({"edp.substitute_data_source_for_uuid": "true"}), &["in-id"]);
        let plan = plan(&job, &c, Path::new("/w")).unwrap();
        let Submission::Rest { url, body } = plan.submission else { panic!("not rest") };
        assert_eq!(url, "http://m:6066/v1/submissions/create");
        assert_eq!(body["mainClass"], PYTHON_RUNNER);
        assert_eq!(
            body["appArgs"],
            json!(["/w/e-1/edp-pyspark-launcher.py", "hdfs://nn/util.py", "hdfs://nn/app.py", "file:///data/in"])
        );
        assert_eq!(body["sparkProperties"]["spark.jars"], "hdfs://nn/dep.jar");
        assert_eq!(body["sparkProperties"]["spark.master"], "spark://m:7077");
        assert_eq!(body["sparkProperties"]["spark.app.name"], "t");
        assert_eq!(body["sparkProperties"][EXECUTION_ID_PROPERTY], "e-1");
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }

    #[test]
    fn apps_are_named_after_the_template() {
        let local = cluster(json!({"spark_home": "/spark", "master": "local[2]"}));
        let name_of = |job: &JobRequest| {
            let Submission::SparkSubmit { argv, .. } = plan(job, &local, Path::new("/w")).unwrap().submission else {
                panic!("not spark-submit")
            };
            let at = argv.iter().position(|a| a == "--name").expect("--name");
            assert!(argv.contains(&format!("{EXECUTION_ID_PROPERTY}=e-1")), "{argv:?}");
            argv[at + 1].clone()
        };
        let mut job = request("app.py", json!({}), &[]);
        job.template_name = "daily-wordcount".into();
        assert_eq!(name_of(&job), "daily-wordcount");
        job.configs.insert("spark.app.name".into(), json!("chosen"));
        assert_eq!(name_of(&job), "chosen");
        job.configs.clear();
        job.template_name = String::new();
        assert_eq!(name_of(&job), "edp-e-1");
    }

    #[test]
    fn refusals() {
        let local = cluster(json!({"spark_home": "/spark", "master": "local[2]"}));
        let jar_without_class = request("app.jar", json!({}), &[]);
        assert!(plan(&jar_without_class, &local, Path::new("/w")).is_err());
        let bad_memory = request("app.py", json!({"spark.driver.memory": "lots"}), &[]);
        assert!(plan(&bad_memory, &local, Path::new("/w")).is_err());
        let standalone = cluster(json!({"spark_home": "/s", "master": "spark://m:7077", "deploy_mode": "cluster"}));
        assert!(plan(&request("app.py", json!({}), &[]), &standalone, Path::new("/w")).is_err());
        let unknown_source =
            request("app.py", json!({"edp.substitute_data_source_for_name": true}), &["datasource://zz"]);
        assert!(plan(&unknown_source, &local, Path::new("/w")).is_err());
        let yarn = cluster(json!({"spark_home": "/s", "master": "yarn", "deploy_mode": "cluster"}));
        let returns_at_submission = request("app.py", json!({"spark.yarn.submit.waitAppCompletion": "False"}), &[]);
        let refused = plan(&returns_at_submission, &yarn, Path::new("/w")).expect_err("refused");
        assert!(refused.message.contains("spark.yarn.submit.waitAppCompletion"), "{}", refused.message);
        let waits = request("app.py", json!({"spark.yarn.submit.waitAppCompletion": "true"}), &[]);
        assert!(plan(&waits, &yarn, Path::new("/w")).is_ok());
        let unused = plan(&request("app.py", json!({}), &[]), &local, Path::new("/w")).unwrap();
        assert!(unused.warnings.iter().any(|w| w.contains("datasource://in")), "{:?}", unused.warnings);
    }
}
