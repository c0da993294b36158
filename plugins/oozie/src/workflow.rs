//! workflow.xml: one action of the job's type between `start`, `end` and a
//! `kill` node its error path leads to (Sahara's shape), with each action's
//! children in the order its XSD fixes.

use crate::plan::{Action, Spark, Streaming};
use crate::xml::{El, configuration as configuration_el};

pub const WORKFLOW_NS: &str = "uri:oozie:workflow:0.5";
pub const SHELL_NS: &str = "uri:oozie:shell-action:0.3";
pub const HIVE_NS: &str = "uri:oozie:hive-action:0.5";
pub const SPARK_NS: &str = "uri:oozie:spark-action:0.2";
/// The action node; its name shows in Oozie's answers and in failure reasons.
pub const ACTION_NODE: &str = "job-node";
/// Oozie fills in the failing action's message when the workflow is killed.
pub const KILL_MESSAGE: &str = "Workflow failed, error message[${wf:errorMessage(wf:lastErrorNode())}]";

pub fn document(app_name: &str, action: &Action) -> String {
    El::new("workflow-app")
        .attr("xmlns", WORKFLOW_NS)
        .attr("name", app_name)
        .child(El::new("start").attr("to", ACTION_NODE))
        .child(
            El::new("action")
                .attr("name", ACTION_NODE)
                .child(element(action))
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

fn conf(el: El, configuration: &[(String, String)]) -> El {
    if configuration.is_empty() { el } else { el.child(configuration_el(configuration)) }
}

/// `K=V`, as `<param>` and `<env-var>` take them.
fn pairs(values: &[(String, String)]) -> Vec<String> {
    values.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn element(action: &Action) -> El {
    match action {
        Action::MapReduce { configuration, streaming } => {
            let mut el = head(El::new("map-reduce"));
            if let Some(Streaming { mapper, reducer }) = streaming {
                el = el
                    .child(El::new("streaming").child(El::text("mapper", mapper)).child(El::text("reducer", reducer)));
            }
            conf(el, configuration)
        }
        Action::Java { configuration, main_class, java_opts, args } => {
            let mut el = conf(head(El::new("java")), configuration).child(El::text("main-class", main_class));
            if let Some(opts) = java_opts {
                el = el.child(El::text("java-opts", opts));
            }
            el.children(texts("arg", args))
        }
        Action::Pig { configuration, script, params, args } => conf(head(El::new("pig")), configuration)
            .child(El::text("script", script))
            .children(pairs(params).iter().map(|p| El::text("param", p)))
            .children(texts("argument", args)),
        Action::Hive { job_xml, configuration, script, params, args } => {
            let mut el = head(El::new("hive").attr("xmlns", HIVE_NS));
            if let Some(site) = job_xml {
                el = el.child(El::text("job-xml", site));
            }
            conf(el, configuration)
                .child(El::text("script", script))
                .children(pairs(params).iter().map(|p| El::text("param", p)))
                .children(texts("argument", args))
        }
        Action::Shell { configuration, exec, args, env, files } => {
            conf(head(El::new("shell").attr("xmlns", SHELL_NS)), configuration)
                .child(El::text("exec", exec))
                .children(texts("argument", args))
                .children(pairs(env).iter().map(|p| El::text("env-var", p)))
                .children(texts("file", files))
        }
        Action::Spark(Spark { configuration, master, mode, name, class, jar, opts, args }) => {
            let mut el = conf(head(El::new("spark").attr("xmlns", SPARK_NS)), configuration)
                .child(El::text("master", master))
                .child(El::text("mode", mode))
                .child(El::text("name", name));
            if let Some(class) = class {
                el = el.child(El::text("class", class));
            }
            el = el.child(El::text("jar", jar));
            if !opts.is_empty() {
                el = el.child(El::text("spark-opts", opts));
            }
            el.children(texts("arg", args))
        }
    }
}
