//! The command line, as clap parses it. Only shapes and help text live here;
//! what the values mean is decided by the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "edp",
    version,
    about = "Submit, watch and cancel data-processing jobs on edpd",
    after_help = "Exit codes: 0 ok / job succeeded, 1 job failed or was killed, 2 usage error, \
                  3 refused by the server (4xx, not found), 4 cannot reach the server, 5 server error (5xx)."
)]
pub struct Cli {
    #[command(flatten, next_help_heading = "Global options")]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. Flags win over the environment, which wins
/// over the config file. The environment is read in `config` rather than by
/// clap, so that an empty `EDP_URL=` counts as unset instead of an error.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// edpd's base URL [env: EDP_URL] [default: config file `url`, else http://127.0.0.1:8386]
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Sent as X-Auth-Token [env: EDP_TOKEN] [default: config file `token`]
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// The config file [env: EDP_CONFIG] [default: $XDG_CONFIG_HOME/edp/config.toml, else ~/.config/edp/config.toml]
    #[arg(long = "config-file", value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON (the server's objects) instead of tables, for scripts
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Launch a job: upload local binaries, reuse or create the template, submit
    Submit(Box<SubmitArgs>),
    /// List jobs, most recent first
    List(ListArgs),
    /// Show one job
    Status {
        /// The job (execution) id
        id: String,
    },
    /// Watch a job until it ends: status, elapsed time, progress; exits with its outcome
    Monitor { id: String },
    /// Print a job's log
    Logs(LogsArgs),
    /// Launch a job again: a new job from the request that made this one (same template, cluster, data and configs)
    Rerun {
        /// The job (execution) id to run again
        id: String,
        /// Wait for the new job to end and exit with its outcome (0 succeeded, 1 otherwise)
        #[arg(long)]
        wait: bool,
    },
    /// Cancel a job
    Cancel {
        /// The job (execution) id
        id: String,
        /// Wait until the job has ended; exit 0 if it ended KILLED, 1 otherwise
        #[arg(long)]
        wait: bool,
    },
    /// The engines edpd loaded, and the plugins it refused
    Engines,
    /// Clusters: where jobs run
    #[command(subcommand)]
    Clusters(ClustersCommand),
    /// Data sources: job inputs and outputs
    #[command(subcommand, name = "data-sources")]
    DataSources(DataSourcesCommand),
    /// Job templates: a job type and its binaries
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Flows: several jobs as one, ordered by the data they read and write
    #[command(subcommand, visible_alias = "flows")]
    Flow(FlowCommand),
}

#[derive(Args, Debug, Default, Clone)]
pub struct SubmitArgs {
    /// A job file (YAML, or TOML when it ends in .toml); flags given here override it
    #[arg(short = 'f', long = "file", value_name = "JOB_FILE")]
    pub file: Option<PathBuf>,
    /// Apply this environment's overlay from the job file
    #[arg(long, value_name = "NAME", requires = "file")]
    pub env: Option<String>,
    /// Job type: Shell, Python, Java, Pig, Hive, MapReduce, MapReduce.Streaming, Spark, ...
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Template name (reused when its type and binaries match)
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// Cluster name or id [default: config `default_cluster`, else `local`]
    #[arg(short = 'c', long)]
    pub cluster: Option<String>,
    /// Main binary: a local file (uploaded), a file://, hdfs:// or internal-db:// URL, or a job binary's name or id
    #[arg(long = "main", value_name = "FILE|URL")]
    pub mains: Vec<String>,
    /// Library: same forms as --main (Java and MapReduce jobs take libs, not mains)
    #[arg(long = "lib", value_name = "FILE|URL")]
    pub libs: Vec<String>,
    /// Input data source: a name, an id, or a URL (a data source is created for it)
    #[arg(long, value_name = "DS")]
    pub input: Option<String>,
    /// Output data source: a name, an id, or a URL
    #[arg(long, value_name = "DS")]
    pub output: Option<String>,
    /// A job config (job_configs.configs), e.g. edp.java.main_class=org.example.Main
    #[arg(long = "conf", value_name = "KEY=VALUE", value_parser = key_value)]
    pub confs: Vec<(String, String)>,
    /// A job param (job_configs.params; environment variables for local jobs)
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
    pub params: Vec<(String, String)>,
    /// A job argument (repeatable; arguments after `--` are appended)
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Queue: spark.yarn.queue for Spark jobs, mapreduce.job.queuename for the others
    #[arg(short = 'q', long)]
    pub queue: Option<String>,
    /// spark.executor.instances
    #[arg(long, value_name = "N")]
    pub num_executors: Option<u32>,
    /// spark.executor.memory, e.g. 8g
    #[arg(long, value_name = "SIZE")]
    pub executor_memory: Option<String>,
    /// spark.driver.memory, e.g. 2g
    #[arg(long, value_name = "SIZE")]
    pub driver_memory: Option<String>,
    /// Description of a template this creates
    #[arg(long)]
    pub description: Option<String>,
    /// Print the engine's exact request (POST /v2/jobs/dry-run) and run nothing
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,
    /// Wait for the job to end and exit with its outcome (0 succeeded, 1 otherwise)
    #[arg(long)]
    pub wait: bool,
    /// Sent as Idempotency-Key: the same submit with the same key, from the same project within 24 h, answers the
    /// first job instead of launching another (safe to retry after a timeout)
    #[arg(long, value_name = "KEY", conflicts_with = "dry_run")]
    pub idempotency_key: Option<String>,
    /// Arguments after `--`, appended to --arg
    #[arg(last = true, value_name = "ARGS")]
    pub rest: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only jobs in these statuses (repeatable or comma-separated), e.g. RUNNING,PENDING
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only jobs on this cluster (name or id)
    #[arg(long)]
    pub cluster: Option<String>,
    /// How many jobs to show, most recent first (1 to 1000)
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The job (execution) id
    pub id: String,
    /// Which stream: stdout (the default) or stderr; engines may have others
    #[arg(long)]
    pub stream: Option<String>,
    /// Keep printing as the job writes, until it ends; then exit with its outcome
    #[arg(short = 'f', long)]
    pub follow: bool,
}

#[derive(Subcommand, Debug)]
pub enum ClustersCommand {
    /// Register a cluster with an engine
    Add {
        name: String,
        /// The engine (plugin) that runs its jobs, see `edp engines`
        #[arg(long = "engine", visible_alias = "plugin")]
        engine: String,
        /// A cluster config; VALUE is read as JSON when it parses (numbers, true, {...}), else as text
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List clusters
    List,
}

#[derive(Subcommand, Debug)]
pub enum DataSourcesCommand {
    /// Register a data source
    Add {
        name: String,
        /// file:///abs/path, /abs/path or hdfs://namenode/path
        #[arg(value_name = "URL")]
        location: String,
        /// file or hdfs [default: from the URL]
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List data sources
    List,
}

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// List job templates
    List {
        /// Only templates of this type
        #[arg(long = "type")]
        kind: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum FlowCommand {
    /// Submit a flow file: make its binaries, templates and data sources exist, then launch the flow
    Submit(FlowSubmitArgs),
    /// A flow's jobs as a tree by dependencies: state, why it waited, ran or was skipped, job id, elapsed time
    Status {
        /// The flow id
        id: String,
    },
    /// List flows, most recent first
    List {
        /// Only flows in this status: RUNNING, SUCCEEDED, FAILED or KILLED
        #[arg(long)]
        status: Option<String>,
        /// How many flows to show, most recent first (1 to 1000)
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Cancel a flow: its running jobs are cancelled, the others skipped
    Cancel {
        /// The flow id
        id: String,
        /// Wait until the flow has ended; exit 0 if it ended KILLED, 1 otherwise
        #[arg(long)]
        wait: bool,
    },
    /// The inferred dependencies: which job reads what another writes
    Graph {
        /// The flow id
        id: String,
        /// Print Graphviz dot (`edp flow graph ID --dot | dot -Tsvg > flow.svg`)
        #[arg(long)]
        dot: bool,
    },
    /// Delete a flow that has ended (its jobs stay, as ordinary jobs)
    Delete {
        /// The flow id
        id: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct FlowSubmitArgs {
    /// The flow file (YAML, or TOML when it ends in .toml)
    #[arg(value_name = "FLOW_FILE")]
    pub file: PathBuf,
    /// Apply this environment's overlay from the flow file
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Skip jobs whose outputs already exist (and whose producers did not run)
    #[arg(long)]
    pub use_existing: bool,
    /// Run this job even if its outputs exist (repeatable; replaces the file's `force`)
    #[arg(long = "force", value_name = "KEY")]
    pub force: Vec<String>,
    /// Wait for the flow to end and exit with its outcome (0 succeeded, 1 otherwise)
    #[arg(long)]
    pub wait: bool,
}

/// `KEY=VALUE`, split at the first `=`.
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// clap checks flag clashes (a subcommand's `--url` against the global
    /// one) only when a command is built: check them all here.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn submit_takes_trailing_args_and_hyphenated_values() {
        let cli = Cli::try_parse_from(["edp", "submit", "-t", "Shell", "-n", "x", "--arg", "--date", "--", "a", "-b"])
            .unwrap();
        let Command::Submit(args) = cli.command else { panic!("not submit") };
        assert_eq!(args.args, ["--date"]);
        assert_eq!(args.rest, ["a", "-b"]);
    }
}
