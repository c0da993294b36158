//! The one action of a job's workflow, per job type: Sahara's rules for
//! each type, one function each, from the request as [`Request`] has sorted
//! it. Each returns the [`Action`] workflow.xml is written from, and adds
//! its warnings (what the type ignores) to the plan's.

use edp_engine_api::plugin::{Error, Result};

use super::{Request, set};

/// What workflow.xml's one action holds, per action element. Every
/// `configuration` is the action's Hadoop `<configuration>`.
#[derive(Debug, Clone)]
pub enum Action {
    /// `<map-reduce>`, with `<streaming>` for MapReduce.Streaming.
    MapReduce {
        configuration: Vec<(String, String)>,
        streaming: Option<Streaming>,
    },
    Java {
        configuration: Vec<(String, String)>,
        main_class: String,
        java_opts: Option<String>,
        args: Vec<String>,
    },
    Pig {
        configuration: Vec<(String, String)>,
        script: String,
        params: Vec<(String, String)>,
        args: Vec<String>,
    },
    Hive {
        /// The cluster's hive-site.xml, as `<job-xml>`.
        job_xml: Option<String>,
        configuration: Vec<(String, String)>,
        script: String,
        params: Vec<(String, String)>,
        args: Vec<String>,
    },
    Shell {
        configuration: Vec<(String, String)>,
        exec: String,
        args: Vec<String>,
        /// `<env-var>`s, from the job's params.
        env: Vec<(String, String)>,
        /// `<file>`s, `path#name`: linked into the job's working directory.
        files: Vec<String>,
    },
    Spark(Spark),
}

#[derive(Debug, Clone)]
pub struct Streaming {
    pub mapper: String,
    pub reducer: String,
}

#[derive(Debug, Clone)]
pub struct Spark {
    pub configuration: Vec<(String, String)>,
    pub master: String,
    pub mode: String,
    pub name: String,
    pub class: Option<String>,
    pub jar: String,
    /// `<spark-opts>`: Oozie splits it at spaces.
    pub opts: String,
    pub args: Vec<String>,
}

/// MapReduce: libs only, data sources as `mapred.input.dir` and
/// `mapred.output.dir` (what the user set wins), no args.
pub fn map_reduce(r: &Request, warnings: &mut Vec<String>) -> Result<Action> {
    Ok(Action::MapReduce { configuration: map_reduce_configuration(r, warnings)?, streaming: None })
}

/// MapReduce.Streaming: MapReduce's rules, and a mapper and a reducer.
pub fn streaming(r: &Request, warnings: &mut Vec<String>) -> Result<Action> {
    let configuration = map_reduce_configuration(r, warnings)?;
    let (Some(mapper), Some(reducer)) = (&r.edp.mapper, &r.edp.reducer) else {
        return Err(Error::invalid_input(
            "MapReduce.Streaming jobs need configs edp.streaming.mapper and edp.streaming.reducer",
        ));
    };
    Ok(Action::MapReduce {
        configuration,
        streaming: Some(Streaming { mapper: mapper.clone(), reducer: reducer.clone() }),
    })
}

fn map_reduce_configuration(r: &Request, warnings: &mut Vec<String>) -> Result<Vec<(String, String)>> {
    let job_type = &r.job.job_type;
    if !r.job.args.is_empty() {
        return Err(Error::invalid_input(format!("{job_type} jobs take no args: use configs")));
    }
    r.ignore(warnings, "params", !r.params.is_empty());
    if r.main.is_some() {
        return Err(Error::invalid_input(format!("{job_type} jobs take libs, not a main binary")));
    }
    let has = |keys: &[&str]| r.hadoop.iter().any(|(k, _)| keys.contains(&k.as_str()));
    let input_set = has(&["mapred.input.dir", "mapreduce.input.fileinputformat.inputdir"]);
    let output_set = has(&["mapred.output.dir", "mapreduce.output.fileoutputformat.outputdir"]);
    if (r.input.is_none() && !input_set) || (r.output.is_none() && !output_set) {
        return Err(Error::invalid_input(format!("{job_type} jobs need an input and an output data source")));
    }
    if r.input.is_some() && r.input == r.output {
        return Err(Error::invalid_input("the input and output data sources must differ"));
    }
    let mut configuration = Vec::new();
    if let Some(input) = &r.input {
        set(&mut configuration, "mapred.input.dir", input.clone());
    }
    if let Some(output) = &r.output {
        set(&mut configuration, "mapred.output.dir", output.clone());
    }
    for (k, v) in &r.hadoop {
        set(&mut configuration, k, v.clone());
    }
    Ok(configuration)
}

/// Java: a main class from `edp.java.main_class`, the libs on the
/// classpath, args; no data sources.
pub fn java(r: &Request, warnings: &mut Vec<String>) -> Result<Action> {
    let Some(main_class) = r.edp.main_class.clone() else {
        return Err(Error::invalid_input("Java jobs need configs edp.java.main_class"));
    };
    r.ignore(warnings, "params", !r.params.is_empty());
    r.ignore(warnings, "data sources", r.input.is_some() || r.output.is_some());
    Ok(Action::Java {
        configuration: r.hadoop.clone(),
        main_class,
        java_opts: r.edp.java_opts.clone(),
        args: r.job.args.clone(),
    })
}

/// Pig: the main binary is the script; data sources as params `INPUT` and
/// `OUTPUT` (the user's params win).
pub fn pig(r: &Request, _warnings: &mut Vec<String>) -> Result<Action> {
    let script = r.needs_main("the script")?.reference();
    Ok(Action::Pig { configuration: r.hadoop.clone(), script, params: script_params(r), args: r.job.args.clone() })
}

/// Hive: Pig's rules, and the cluster's hive-site.xml.
pub fn hive(r: &Request, _warnings: &mut Vec<String>) -> Result<Action> {
    let script = r.needs_main("the script")?.reference();
    Ok(Action::Hive {
        job_xml: r.cluster.hive_site_xml.clone(),
        configuration: r.hadoop.clone(),
        script,
        params: script_params(r),
        args: r.job.args.clone(),
    })
}

fn script_params(r: &Request) -> Vec<(String, String)> {
    let mut params = Vec::new();
    if let Some(input) = &r.input {
        set(&mut params, "INPUT", input.clone());
    }
    if let Some(output) = &r.output {
        set(&mut params, "OUTPUT", output.clone());
    }
    for (k, v) in &r.params {
        set(&mut params, k, v.clone());
    }
    params
}

/// Shell: the main binary is run with the args; params become environment
/// variables; the main and the libs are linked into the working directory.
pub fn shell(r: &Request, warnings: &mut Vec<String>) -> Result<Action> {
    let script = r.needs_main("the script")?;
    r.ignore(warnings, "data sources", r.input.is_some() || r.output.is_some());
    for (k, _) in &r.params {
        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(Error::invalid_input(format!(
                "params.{k}: Shell params become environment variables; `{k}` cannot name one"
            )));
        }
    }
    Ok(Action::Shell {
        configuration: r.hadoop.clone(),
        exec: script.name.clone(),
        args: r.job.args.clone(),
        env: r.params.clone(),
        // `#name` links each file into the job's working directory.
        files: std::iter::once(script).chain(r.libs.iter()).map(|f| format!("{}#{}", f.reference(), f.name)).collect(),
    })
}

/// Spark: a jar with `edp.java.main_class`, or a `.py`; libs to `--jars` or
/// `--py-files`; `spark.*` configs to `--conf`, the rest to Hadoop.
pub fn spark(r: &Request, warnings: &mut Vec<String>) -> Result<Action> {
    let jar = r.needs_main("the application jar or .py file")?;
    let python = jar.name.ends_with(".py");
    if r.edp.main_class.is_none() && !python {
        return Err(Error::invalid_input("Spark jobs need configs edp.java.main_class"));
    }
    r.ignore(warnings, "params", !r.params.is_empty());
    r.ignore(warnings, "data sources", r.input.is_some() || r.output.is_some());
    let mut opts: Vec<String> = Vec::new();
    let jars: Vec<String> = r.libs.iter().map(|l| l.uri.clone()).collect();
    if !jars.is_empty() {
        opts.push(format!("--{} {}", if python { "py-files" } else { "jars" }, jars.join(",")));
    }
    if let Some(cp) = &r.edp.driver_classpath {
        if cp.contains(char::is_whitespace) {
            return Err(Error::invalid_input("configs.edp.spark.driver.classpath cannot hold spaces"));
        }
        opts.push(format!("--driver-class-path {cp}"));
    }
    // spark.* configs are Spark's own; the rest go to Hadoop.
    let mut configuration = Vec::new();
    for (k, v) in &r.hadoop {
        if k.starts_with("spark.") {
            if v.contains(char::is_whitespace) || k.contains(char::is_whitespace) {
                return Err(Error::invalid_input(format!(
                    "configs.{k}: Oozie splits spark-opts at spaces, so a Spark setting cannot hold one"
                )));
            }
            opts.push(format!("--conf {k}={v}"));
        } else {
            configuration.push((k.clone(), v.clone()));
        }
    }
    Ok(Action::Spark(Spark {
        configuration,
        master: r.cluster.spark_master.clone(),
        mode: r.cluster.spark_mode.clone(),
        name: r.job.template_name.clone(),
        class: r.edp.main_class.clone(),
        jar: jar.uri.clone(),
        opts: opts.join(" "),
        args: r.job.args.clone(),
    }))
}
