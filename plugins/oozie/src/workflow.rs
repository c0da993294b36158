//! workflow.xml: one action of the job's type between `start`, `end` and a
//! `kill` node its error path leads to (Sahara's shape), with each action's
//! children in the order its XSD fixes.

use crate::plan::{ActionSpec, JobType};
use crate::xml::{El, configuration};

pub const WORKFLOW_NS: &str = "uri:oozie:workflow:0.5";
pub const SHELL_NS: &str = "uri:oozie:shell-action:0.3";
pub const HIVE_NS: &str = "uri:oozie:hive-action:0.5";
pub const SPARK_NS: &str = "uri:oozie:spark-action:0.2";
/// The action node; its name shows in Oozie's answers and in failure reasons.
pub const ACTION_NODE: &str = "job-node";
/// Oozie fills in the failing action's message when the workflow is killed.
pub const KILL_MESSAGE: &str = "Workflow failed, error message[${wf:errorMessage(wf:lastErrorNode())}]";

pub fn document(app_name: &str, spec: &ActionSpec) -> String {
    El::new("workflow-app")
        .attr("xmlns", WORKFLOW_NS)
        .attr("name", app_name)
        .child(El::new("start").attr("to", ACTION_NODE))
        .child(
            El::new("action")
                .attr("name", ACTION_NODE)
                .child(action(spec))
                .child(El::new("ok").attr("to", "end"))
                .child(El::new("error").attr("to", "fail")),
        )
        .child(El::new("kill").attr("name", "fail").child(El::text("message", KILL_MESSAGE)))
        .child(El::new("end").attr("name", "end"))
        .document()
}

/// `job-tracker`, `name-node`: what every Hadoop action starts with, as EL
/// variables the job properties define.
fn head(el: El) -> El {
    el.child(El::text("job-tracker", "${jobTracker}")).child(El::text("name-node", "${nameNode}"))
}

fn texts<'a>(name: &'a str, values: impl IntoIterator<Item = &'a String> + 'a) -> impl Iterator<Item = El> + 'a {
    values.into_iter().map(move |v| El::text(name, v.as_str()))
}

fn conf(el: El, spec: &ActionSpec) -> El {
    if spec.configuration.is_empty() { el } else { el.child(configuration(&spec.configuration)) }
}

/// `K=V`, as `<param>` and `<env-var>` take them.
fn pairs(values: &[(String, String)]) -> Vec<String> {
    values.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn action(spec: &ActionSpec) -> El {
    match spec.job_type {
        JobType::MapReduce | JobType::Streaming => {
            let mut el = head(El::new("map-reduce"));
            if let Some((mapper, reducer)) = &spec.streaming {
                el = el
                    .child(El::new("streaming").child(El::text("mapper", mapper)).child(El::text("reducer", reducer)));
            }
            conf(el, spec)
        }
        JobType::Java => {
            let mut el = conf(head(El::new("java")), spec)
                .child(El::text("main-class", spec.main_class.clone().unwrap_or_default()));
            if let Some(opts) = &spec.java_opts {
                el = el.child(El::text("java-opts", opts));
            }
            el.children(texts("arg", &spec.args))
        }
        JobType::Pig => conf(head(El::new("pig")), spec)
            .child(El::text("script", spec.script.clone().unwrap_or_default()))
            .children(pairs(&spec.params).iter().map(|p| El::text("param", p)))
            .children(texts("argument", &spec.args)),
        JobType::Hive => {
            let mut el = head(El::new("hive").attr("xmlns", HIVE_NS));
            if let Some(site) = &spec.job_xml {
                el = el.child(El::text("job-xml", site));
            }
            conf(el, spec)
                .child(El::text("script", spec.script.clone().unwrap_or_default()))
                .children(pairs(&spec.params).iter().map(|p| El::text("param", p)))
                .children(texts("argument", &spec.args))
        }
        JobType::Shell => conf(head(El::new("shell").attr("xmlns", SHELL_NS)), spec)
            .child(El::text("exec", spec.script.clone().unwrap_or_default()))
            .children(texts("argument", &spec.args))
            .children(pairs(&spec.params).iter().map(|p| El::text("env-var", p)))
            .children(texts("file", &spec.files)),
        JobType::Spark => {
            let spark = spec.spark.clone().unwrap_or_default();
            let mut el = conf(head(El::new("spark").attr("xmlns", SPARK_NS)), spec)
                .child(El::text("master", spark.master))
                .child(El::text("mode", spark.mode))
                .child(El::text("name", spark.name));
            if let Some(class) = &spec.main_class {
                el = el.child(El::text("class", class));
            }
            el = el.child(El::text("jar", spark.jar));
            if !spark.opts.is_empty() {
                el = el.child(El::text("spark-opts", spark.opts));
            }
            el.children(texts("arg", &spec.args))
        }
    }
}
