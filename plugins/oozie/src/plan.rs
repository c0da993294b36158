//! A launch request → what is uploaded and submitted, by Sahara's rules:
//!
//! - `edp.*` configs are the engine's (`edp.java.main_class`,
//!   `edp.streaming.mapper`, ...) and never reach Hadoop; `oozie.*` configs
//!   are job properties; every other config is a property of the action's
//!   Hadoop `<configuration>`.
//! - Data sources: MapReduce gets `mapred.input.dir` / `mapred.output.dir`,
//!   Pig and Hive the params `INPUT` / `OUTPUT`; what the user set wins.
//! - The app directory `/user/<hdfs_user>/edp/<template>/<execution id>/`
//!   holds workflow.xml, the mains, and the libs under `lib/` (Oozie puts
//!   those on the classpath). Binaries already in HDFS are referenced where
//!   they are (libs through `oozie.libpath`).
//! - The workflow's name carries the execution id, so a launch repeated
//!   after a crash finds the workflow it submitted.

mod actions;

use std::path::PathBuf;

use edp_engine_api::plugin::{Error, Result};
use edp_engine_api::wire::{Binary, DataSource, JobRequest};
use serde_json::Value;

pub use actions::{Action, Spark, Streaming};

use crate::cluster::ClusterConfig;
use crate::workflow;
use crate::xml::check_text;

pub const JOB_TYPES: [&str; 7] = ["MapReduce", "MapReduce.Streaming", "Java", "Pig", "Hive", "Shell", "Spark"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    MapReduce,
    Streaming,
    Java,
    Pig,
    Hive,
    Shell,
    Spark,
}

impl JobType {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "MapReduce" => Self::MapReduce,
            "MapReduce.Streaming" => Self::Streaming,
            "Java" => Self::Java,
            "Pig" => Self::Pig,
            "Hive" => Self::Hive,
            "Shell" => Self::Shell,
            "Spark" => Self::Spark,
            other => {
                return Err(Error::unsupported(format!(
                    "the oozie engine does not run {other} jobs (it runs {})",
                    JOB_TYPES.join(", ")
                )));
            }
        })
    }

    /// The planning step of this type (see [`actions`]).
    fn action(self) -> fn(&Request, &mut Vec<String>) -> Result<Action> {
        match self {
            Self::MapReduce => actions::map_reduce,
            Self::Streaming => actions::streaming,
            Self::Java => actions::java,
            Self::Pig => actions::pig,
            Self::Hive => actions::hive,
            Self::Shell => actions::shell,
            Self::Spark => actions::spark,
        }
    }
}

/// A staged binary to write into the app directory.
#[derive(Debug, Clone)]
pub struct Upload {
    pub local: PathBuf,
    /// Absolute HDFS path.
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub app_name: String,
    /// `/user/<hdfs_user>/edp/<template>/<execution id>`.
    pub app_dir: String,
    /// The app directory as a URI: `oozie.wf.application.path`.
    pub app_path: String,
    pub workflow_xml: String,
    /// The job properties, as submitted.
    pub properties: Vec<(String, String)>,
    pub uploads: Vec<Upload>,
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn workflow_path(&self) -> String {
        format!("{}/workflow.xml", self.app_dir)
    }
}

/// A launch request → what is uploaded and submitted: the request sorted
/// and checked once ([`Request`]), the job type's action, workflow.xml and
/// the job properties.
pub fn plan(job: &JobRequest, cluster: &ClusterConfig) -> Result<Plan> {
    let job_type = JobType::parse(&job.job_type)?;
    let mut warnings = Vec::new();
    let app = AppDir::new(job, cluster)?;
    let configs = Configs::sort(job, &mut warnings)?;
    let params = params(job)?;
    for (i, arg) in job.args.iter().enumerate() {
        check_text(&format!("args[{i}]"), arg)?;
    }
    let input = job.input.as_ref().map(|ds| data_source_url("input", ds, cluster)).transpose()?;
    let output = job.output.as_ref().map(|ds| data_source_url("output", ds, cluster)).transpose()?;
    let mut uploads = Vec::new();
    let (main, libs) = binaries(job, cluster, &app, &mut uploads)?;

    let request = Request { job, cluster, edp: configs.edp, hadoop: configs.hadoop, params, input, output, main, libs };
    let action = job_type.action()(&request, &mut warnings)?;
    warn_unused_edp(job_type, &request.edp, &mut warnings);
    let workflow_xml = workflow::document(&app.name, &action);
    let properties = properties(&request, &app, configs.oozie, configs.libpath)?;
    Ok(Plan { app_name: app.name, app_dir: app.dir, app_path: app.path, workflow_xml, properties, uploads, warnings })
}

/// What every job type's planning starts from: the request, checked, its
/// configs sorted, its data sources and binaries resolved.
pub struct Request<'a> {
    job: &'a JobRequest,
    cluster: &'a ClusterConfig,
    edp: EdpConfigs,
    /// Configs that are neither `edp.*` nor `oozie.*`: Hadoop's.
    hadoop: Vec<(String, String)>,
    params: Vec<(String, String)>,
    /// The data sources' URIs.
    input: Option<String>,
    output: Option<String>,
    main: Option<FileRef>,
    libs: Vec<FileRef>,
}

impl Request<'_> {
    fn needs_main(&self, what: &str) -> Result<&FileRef> {
        self.main
            .as_ref()
            .ok_or_else(|| Error::invalid_input(format!("{} jobs need a main binary ({what})", self.job.job_type)))
    }

    /// Warns that this job type ignores `what`, when it was `given`.
    fn ignore(&self, warnings: &mut Vec<String>, what: &str, given: bool) {
        if given {
            warnings.push(format!("{} jobs take no {what}; ignored", self.job.job_type));
        }
    }
}

/// Where the job's files go in HDFS, and the workflow's name.
struct AppDir {
    name: String,
    /// `/user/<hdfs_user>/edp/<template>/<execution id>`.
    dir: String,
    /// `dir` as a URI.
    path: String,
}

impl AppDir {
    fn new(job: &JobRequest, cluster: &ClusterConfig) -> Result<Self> {
        if job.execution_id.is_empty() || !job.execution_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::invalid_input(format!("execution id `{}` cannot name a directory", job.execution_id)));
        }
        let dir = format!("/user/{}/edp/{}/{}", cluster.hdfs_user, segment(&job.template_name), job.execution_id);
        Ok(Self { name: app_name(&job.template_name, &job.execution_id), path: cluster.hdfs_uri(&dir), dir })
    }
}

/// A binary as the workflow names it.
struct FileRef {
    name: String,
    /// Relative to the app directory, when uploaded there.
    relative: Option<String>,
    /// A full URI.
    uri: String,
}

impl FileRef {
    /// What an action element takes: the relative path, else the URI.
    fn reference(&self) -> String {
        self.relative.clone().unwrap_or_else(|| self.uri.clone())
    }
}

/// Sahara's `edp.*` keys this engine uses.
#[derive(Default)]
struct EdpConfigs {
    main_class: Option<String>,
    java_opts: Option<String>,
    mapper: Option<String>,
    reducer: Option<String>,
    driver_classpath: Option<String>,
}

/// Sahara's `edp.*` keys that need what this engine does not have.
const IGNORED_EDP: [&str; 5] = [
    "edp.java.adapt_for_oozie",
    "edp.hbase_common_lib",
    "edp.spark.adapt_for_swift",
    "edp.substitute_data_source_for_name",
    "edp.substitute_data_source_for_uuid",
];

/// The job's configs, sorted by whose they are.
struct Configs {
    edp: EdpConfigs,
    hadoop: Vec<(String, String)>,
    /// `oozie.*`: job properties.
    oozie: Vec<(String, String)>,
    /// `oozie.libpath`, joined with the libs already in HDFS.
    libpath: Vec<String>,
}

impl Configs {
    /// `edp.*` are the engine's and never reach Hadoop; `oozie.*` are job
    /// properties (but those the engine sets itself); the rest are Hadoop's.
    fn sort(job: &JobRequest, warnings: &mut Vec<String>) -> Result<Self> {
        let mut sorted =
            Self { edp: EdpConfigs::default(), hadoop: Vec::new(), oozie: Vec::new(), libpath: Vec::new() };
        let edp = &mut sorted.edp;
        for (key, value) in &job.configs {
            let what = format!("configs.{key}");
            check_text(&what, key)?;
            let Some(value) = value_text(&what, value)? else { continue };
            match key.as_str() {
                "edp.java.main_class" => edp.main_class = Some(value),
                "edp.java.java_opts" => edp.java_opts = Some(value),
                "edp.streaming.mapper" => edp.mapper = Some(value),
                "edp.streaming.reducer" => edp.reducer = Some(value),
                "edp.spark.driver.classpath" => edp.driver_classpath = Some(value),
                k if IGNORED_EDP.contains(&k) => {
                    warnings.push(format!("{what} is not supported by the oozie engine; ignored"));
                }
                k if k.starts_with("edp.") => {
                    warnings.push(format!("{what} is not an edp.* key the oozie engine knows; ignored"))
                }
                "oozie.wf.application.path" => {
                    return Err(Error::invalid_input(format!(
                        "{what} is the engine's: it names the uploaded workflow"
                    )));
                }
                "oozie.coord.application.path" | "oozie.bundle.application.path" => {
                    return Err(Error::invalid_input(format!(
                        "{what}: the oozie engine submits workflows, not coordinators or bundles"
                    )));
                }
                "oozie.libpath" => sorted.libpath.push(value),
                "oozie.wf.workflow.notification.url" if job.callback.is_some() => {
                    warnings.push(format!("{what} is replaced by edp's status callback"));
                }
                k if k.starts_with("oozie.") => set(&mut sorted.oozie, k, value),
                k => set(&mut sorted.hadoop, k, value),
            }
        }
        Ok(sorted)
    }
}

/// The job's params, checked.
fn params(job: &JobRequest) -> Result<Vec<(String, String)>> {
    let mut params = Vec::new();
    for (key, value) in &job.params {
        let what = format!("params.{key}");
        check_text(&what, key)?;
        if key.is_empty() || key.contains('=') {
            return Err(Error::invalid_input(format!("{what}: a param name cannot be empty or hold `=`")));
        }
        if let Some(value) = value_text(&what, value)? {
            params.push((key.clone(), value));
        }
    }
    Ok(params)
}

/// The main binary (at most one) and the libs, as the workflow names them.
/// Staged binaries are uploaded into the app directory (libs under `lib/`);
/// binaries already in HDFS are referenced where they are.
fn binaries(
    job: &JobRequest,
    cluster: &ClusterConfig,
    app: &AppDir,
    uploads: &mut Vec<Upload>,
) -> Result<(Option<FileRef>, Vec<FileRef>)> {
    let mut reference = |b: &Binary, dir: &str| -> Result<FileRef> {
        let name = binary_name(b)?.to_string();
        let relative = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
        if let Some(local) = &b.path {
            let path = format!("{}/{relative}", app.dir);
            uploads.push(Upload { local: local.clone(), path: path.clone() });
            return Ok(FileRef { name, relative: Some(relative), uri: cluster.hdfs_uri(&path) });
        }
        let url = b.url.trim();
        check_text(&format!("job binary {name}"), url)?;
        if url.starts_with("hdfs://") || url.starts_with("viewfs://") {
            Ok(FileRef { name, relative: None, uri: url.to_string() })
        } else if url.starts_with('/') {
            Ok(FileRef { name, relative: None, uri: cluster.hdfs_uri(url) })
        } else {
            Err(Error::invalid_input(format!("job binary {name} ({url}) is neither staged by edpd nor in HDFS")))
        }
    };
    let main = match job.mains.as_slice() {
        [] => None,
        [one] => Some(reference(one, "")?),
        more => {
            return Err(Error::invalid_input(format!(
                "{} jobs take one main binary, not {}",
                job.job_type,
                more.len()
            )));
        }
    };
    let mut libs = Vec::new();
    for lib in &job.libs {
        let file = reference(lib, "lib")?;
        if libs.iter().any(|l: &FileRef| l.name == file.name) {
            return Err(Error::invalid_input(format!("two libs are called {}", file.name)));
        }
        libs.push(file);
    }
    Ok((main, libs))
}

/// `edp.*` keys of another job type are ignored, with a word.
fn warn_unused_edp(job_type: JobType, edp: &EdpConfigs, warnings: &mut Vec<String>) {
    if !matches!(job_type, JobType::Streaming) && (edp.mapper.is_some() || edp.reducer.is_some()) {
        warnings.push("configs.edp.streaming.* apply to MapReduce.Streaming jobs only; ignored".into());
    }
    if !matches!(job_type, JobType::Java | JobType::Spark) && edp.main_class.is_some() {
        warnings.push("configs.edp.java.main_class applies to Java and Spark jobs only; ignored".into());
    }
}

/// The job properties: the workflow's EL variables, where it is, who runs
/// it, then the cluster's and the job's `oozie.*` properties, and edpd's
/// status callback as Oozie's notification URL.
fn properties(
    r: &Request,
    app: &AppDir,
    oozie: Vec<(String, String)>,
    mut libpath: Vec<String>,
) -> Result<Vec<(String, String)>> {
    let cluster = r.cluster;
    // Libs already in HDFS reach the classpath through oozie.libpath.
    let mut hdfs_libs: Vec<String> = r.libs.iter().filter(|l| l.relative.is_none()).map(|l| l.uri.clone()).collect();
    hdfs_libs.append(&mut libpath);
    let mut properties = Vec::new();
    set(&mut properties, "user.name", cluster.hdfs_user.clone());
    set(&mut properties, "nameNode", cluster.name_node.clone());
    set(&mut properties, "jobTracker", cluster.job_tracker.clone());
    set(&mut properties, "oozie.wf.application.path", app.path.clone());
    set(&mut properties, "oozie.use.system.libpath", "true".into());
    if !hdfs_libs.is_empty() {
        set(&mut properties, "oozie.libpath", hdfs_libs.join(","));
    }
    for (k, v) in cluster.oozie_properties.iter().chain(oozie.iter()) {
        set(&mut properties, k, v.clone());
    }
    if let Some(callback) = &r.job.callback {
        check_text("the callback URL", &callback.url)?;
        let separator = if callback.url.contains('?') { '&' } else { '?' };
        set(
            &mut properties,
            "oozie.wf.workflow.notification.url",
            format!("{}{separator}status=$status", callback.url),
        );
    }
    Ok(properties)
}

fn value_text(what: &str, value: &Value) -> Result<Option<String>> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        other => return Err(Error::invalid_input(format!("{what} must be a string, number or boolean, not {other}"))),
    };
    check_text(what, &text)?;
    Ok(Some(text))
}

/// A path segment from a free-form name: `[A-Za-z0-9._-]`, at most 100.
fn segment(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(100)
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') { "job".into() } else { cleaned }
}

/// The workflow's name: the lookup key that makes launches idempotent.
pub fn app_name(template: &str, execution_id: &str) -> String {
    format!("edp-{}-{execution_id}", segment(template))
}

/// Replaces or appends a property, keeping first-set order.
fn set(properties: &mut Vec<(String, String)>, key: &str, value: String) {
    match properties.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => properties.push((key.to_string(), value)),
    }
}

fn data_source_url(role: &str, ds: &DataSource, cluster: &ClusterConfig) -> Result<String> {
    let url = ds.url.trim();
    check_text(&format!("{role} data source {}", ds.name), url)?;
    let resolved = if ds.kind == "file" || url.starts_with("file:") {
        return Err(Error::invalid_input(format!(
            "{role} data source {} is a local file ({url}): Hadoop jobs read and write HDFS; use an hdfs data source",
            ds.name
        )));
    } else if url.starts_with('/') {
        cluster.hdfs_uri(url)
    } else if url.contains("://") {
        url.to_string()
    } else {
        return Err(Error::invalid_input(format!("{role} data source {} has no usable URL: `{url}`", ds.name)));
    };
    Ok(resolved)
}

fn binary_name(b: &Binary) -> Result<&str> {
    let name = b.name.as_str();
    if name.is_empty() || name.contains('/') || name == "." || name == ".." || name == "workflow.xml" || name == "lib" {
        return Err(Error::invalid_input(format!("job binary `{name}` cannot be a file of the workflow's directory")));
    }
    check_text("a job binary name", name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edp_engine_api::wire::{Callback, ClusterSpec, Object};
    use serde_json::json;

    const ID: &str = "0b0e3c52-6d1c-4f3e-9a55-0f2f2b7c9e01";

    fn cluster() -> ClusterConfig {
        ClusterConfig::parse(
            json!({"oozie_url": "http://o:11000/oozie", "name_node": "hdfs://nn:8020", "job_tracker": "rm:8032",
                   "webhdfs_url": "http://nn:9870", "hdfs_user": "edp", "oozie.launcher.x": "1"})
            .as_object()
            .unwrap(),
        )
        .unwrap()
    }

    fn request(job_type: &str, configs: Value) -> JobRequest {
        JobRequest {
            execution_id: ID.into(),
            job_type: job_type.into(),
            template_name: "word count".into(),
            cluster: ClusterSpec::default(),
            mains: vec![],
            libs: vec![],
            input: Some(DataSource { id: "i".into(), name: "in".into(), kind: "hdfs".into(), url: "/data/in".into() }),
            output: Some(DataSource {
                id: "o".into(),
                name: "out".into(),
                kind: "hdfs".into(),
                url: "hdfs://other:8020/out".into(),
            }),
            configs: configs.as_object().cloned().unwrap_or_default(),
            params: Object::new(),
            args: vec![],
            callback: Some(Callback { url: "http://edp:8386/v2/jobs/x/callback?token=s3cret".into() }),
        }
    }

    fn staged(name: &str) -> Binary {
        Binary {
            id: name.into(),
            name: name.into(),
            url: format!("internal-db://{name}"),
            path: Some(format!("/tmp/{name}").into()),
        }
    }

    fn prop<'a>(plan: &'a Plan, key: &str) -> Option<&'a str> {
        plan.properties.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn map_reduce_gets_the_data_sources_and_user_configs_win() {
        let mut job = request(
            "MapReduce",
            json!({"mapred.output.dir": "/mine", "edp.java.main_class": "x", "oozie.job.acl": "a"}),
        );
        job.libs = vec![
            staged("wc.jar"),
            Binary { id: "h".into(), name: "dep.jar".into(), url: "hdfs://nn:8020/libs/dep.jar".into(), path: None },
        ];
        let plan = plan(&job, &cluster()).unwrap();
        assert_eq!(plan.app_dir, format!("/user/edp/edp/word_count/{ID}"));
        assert_eq!(plan.app_name, format!("edp-word_count-{ID}"));
        assert!(plan.workflow_xml.contains("<name>mapred.input.dir</name>"), "{}", plan.workflow_xml);
        assert!(plan.workflow_xml.contains("<value>hdfs://nn:8020/data/in</value>"));
        assert!(plan.workflow_xml.contains("<value>/mine</value>") && !plan.workflow_xml.contains("other:8020"));
        assert!(!plan.workflow_xml.contains("edp.java"), "edp.* never reach Hadoop");
        assert_eq!(plan.uploads.len(), 1);
        assert_eq!(plan.uploads[0].path, format!("/user/edp/edp/word_count/{ID}/lib/wc.jar"));
        assert_eq!(prop(&plan, "oozie.libpath"), Some("hdfs://nn:8020/libs/dep.jar"));
        assert_eq!(prop(&plan, "oozie.job.acl"), Some("a"));
        assert_eq!(prop(&plan, "oozie.launcher.x"), Some("1"));
        assert_eq!(
            prop(&plan, "oozie.wf.application.path"),
            Some(format!("hdfs://nn:8020/user/edp/edp/word_count/{ID}").as_str())
        );
        assert_eq!(
            prop(&plan, "oozie.wf.workflow.notification.url"),
            Some("http://edp:8386/v2/jobs/x/callback?token=s3cret&status=$status")
        );
        assert!(plan.warnings.iter().any(|w| w.contains("main_class")), "{:?}", plan.warnings);
    }

    #[test]
    fn type_rules_are_enforced() {
        let cluster = cluster();
        let streaming = request("MapReduce.Streaming", json!({"edp.streaming.mapper": "cat"}));
        assert!(plan(&streaming, &cluster).unwrap_err().message.contains("reducer"));
        let java = request("Java", json!({}));
        assert!(plan(&java, &cluster).unwrap_err().message.contains("main_class"));
        let mut mr = request("MapReduce", json!({}));
        mr.output = None;
        assert!(plan(&mr, &cluster).unwrap_err().message.contains("output"));
        let mut args = request("MapReduce", json!({}));
        args.args = vec!["x".into()];
        assert!(plan(&args, &cluster).is_err());
        let mut file = request("Pig", json!({}));
        file.mains = vec![staged("a.pig")];
        file.input = Some(DataSource { id: "f".into(), name: "f".into(), kind: "file".into(), url: "/tmp/x".into() });
        assert!(plan(&file, &cluster).unwrap_err().message.contains("local file"));
        let bell = request("Java", json!({"edp.java.main_class": "a\u{7}"}));
        assert!(plan(&bell, &cluster).is_err());
        let unknown = request("Storm", json!({}));
        assert_eq!(plan(&unknown, &cluster).unwrap_err().kind, edp_engine_api::abi::ErrorKind::UNSUPPORTED);
    }

    #[test]
    fn pig_params_and_shell_files() {
        let cluster = cluster();
        let mut pig = request("Pig", json!({}));
        pig.mains = vec![staged("wc.pig")];
        pig.params = json!({"OUTPUT": "/override", "X": 1}).as_object().cloned().unwrap();
        pig.args = vec!["-v".into()];
        let p = plan(&pig, &cluster).unwrap();
        assert!(p.workflow_xml.contains("<param>INPUT=hdfs://nn:8020/data/in</param>"), "{}", p.workflow_xml);
        assert!(p.workflow_xml.contains("<param>OUTPUT=/override</param>"));
        assert!(p.workflow_xml.contains("<param>X=1</param>") && p.workflow_xml.contains("<argument>-v</argument>"));
        assert!(p.workflow_xml.contains("<script>wc.pig</script>"));

        let mut shell = request("Shell", json!({}));
        shell.mains = vec![staged("run.sh")];
        shell.libs = vec![staged("data.txt")];
        shell.params = json!({"GREETING": "a b"}).as_object().cloned().unwrap();
        let s = plan(&shell, &cluster).unwrap();
        assert!(s.workflow_xml.contains("<exec>run.sh</exec>"));
        assert!(s.workflow_xml.contains("<env-var>GREETING=a b</env-var>"));
        assert!(
            s.workflow_xml.contains("<file>run.sh#run.sh</file>")
                && s.workflow_xml.contains("<file>lib/data.txt#data.txt</file>")
        );
        shell.params = json!({"A=B": "x"}).as_object().cloned().unwrap();
        assert!(plan(&shell, &cluster).is_err());
    }

    #[test]
    fn hive_gets_the_clusters_site_file() {
        let mut cluster = cluster();
        cluster.hive_site_xml = Some("/user/hive/conf/hive-site.xml".into());
        let mut hive = request("Hive", json!({"oozie.coord.application.path": "/x"}));
        hive.mains = vec![staged("q.sql")];
        assert!(plan(&hive, &cluster).unwrap_err().message.contains("coordinators"));
        hive.configs = Object::new();
        let p = plan(&hive, &cluster).unwrap();
        assert!(p.workflow_xml.contains("<hive xmlns=\"uri:oozie:hive-action:0.5\">"), "{}", p.workflow_xml);
        assert!(p.workflow_xml.contains("<job-xml>/user/hive/conf/hive-site.xml</job-xml>"));
        assert!(p.workflow_xml.contains("<param>OUTPUT=hdfs://other:8020/out</param>"));
    }

    #[test]
    fn spark_options() {
        let mut spark = request(
            "Spark",
            json!({"edp.java.main_class": "org.A", "spark.executor.memory": "2g", "mapreduce.x": "y"}),
        );
        spark.mains = vec![staged("app.jar")];
        spark.libs = vec![staged("dep.jar")];
        spark.args = vec!["1".into()];
        let p = plan(&spark, &cluster()).unwrap();
        let xml = &p.workflow_xml;
        assert!(xml.contains(&format!("<jar>hdfs://nn:8020/user/edp/edp/word_count/{ID}/app.jar</jar>")), "{xml}");
        assert!(xml.contains(&format!(
            "--jars hdfs://nn:8020/user/edp/edp/word_count/{ID}/lib/dep.jar --conf spark.executor.memory=2g"
        )));
        assert!(
            xml.contains("<class>org.A</class>")
                && xml.contains("<master>yarn</master>")
                && xml.contains("<mode>cluster</mode>")
        );
        assert!(xml.contains("<name>mapreduce.x</name>"));
    }
}
