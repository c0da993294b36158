//! `edp flow …`: several jobs submitted as one (`/v2/flows`). edpd infers
//! who depends on whom from the data each job reads and writes; the CLI
//! turns a flow file into the jobs' templates, clusters and data sources
//! exactly as `submit -f` does for one job, and shows a flow as a tree.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::api::segment;
use crate::args::{FlowCommand, FlowSubmitArgs};
use crate::cmd::Ctx;
use crate::cmd::prepare;
use crate::cmd::resolve::{self, CLUSTER, FLOW_STATUSES, JobTypes};
use crate::cmd::submit;
use crate::error::{Failure, Result, code};
use crate::flowfile::{self, Flow, NAME_MAX, Step, valid_name};
use crate::output::{self, duration, note, parse_time, table, text};

const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(2);
/// A restarting edpd is waited for this long before giving up.
const UNREACHABLE_GRACE: Duration = Duration::from_secs(30);

pub async fn run(ctx: &Ctx, command: FlowCommand) -> Result<i32> {
    match command {
        FlowCommand::Submit(args) => submit(ctx, args).await,
        FlowCommand::Status { id } => status(ctx, &id).await,
        FlowCommand::List { status, limit } => list(ctx, status, limit).await,
        FlowCommand::Cancel { id, wait } => cancel(ctx, &id, wait).await,
        FlowCommand::Graph { id, dot } => graph(ctx, &id, dot).await,
        FlowCommand::Delete { id } => delete(ctx, &id).await,
    }
}

/// One job, checked locally and ready to have its references made.
struct Plan<'a> {
    step: &'a Step,
    kind: String,
    template: String,
    job_configs: Value,
}

async fn submit(ctx: &Ctx, args: FlowSubmitArgs) -> Result<i32> {
    let mut flow = flowfile::load(&args.file, args.env.as_deref())?;
    if args.use_existing {
        flow.use_existing = true;
    }
    if !args.force.is_empty() {
        flow.force = args.force.clone();
    }
    // Everything that can be checked here is, before the first request.
    let mut plans = plan(&flow)?;
    let types = JobTypes::fetch(ctx).await?;
    for plan in &mut plans {
        plan.kind = types.canonical(&plan.kind).map_err(|e| Failure::usage(format!("job `{}`: {e}", plan.step.key)))?;
    }

    let mut made = Made::default();
    let mut jobs = Vec::with_capacity(plans.len());
    for plan in &plans {
        jobs.push(made.job(ctx, plan).await?);
    }
    let body = json!({
        "name": flow.name,
        "jobs": jobs,
        "use_existing": flow.use_existing,
        "force": flow.force,
    });
    let created = ctx.api.post("/v2/flows", &body).await?;
    let submitted = &created["flow"];
    let id = text(submitted, "id");
    let edges = submitted["edges"].as_array().map_or(0, Vec::len);
    note(format!("flow {id} submitted: `{}`, {} jobs, {edges} dependencies", flow.name, plans.len()));
    if args.wait {
        let done = watch(ctx, &id).await?;
        finish(ctx, &done);
        return Ok(output::outcome_code(&text(&done, "status")));
    }
    // stdout is the id alone, for `ID=$(edp flow submit ...)`.
    if ctx.json {
        output::json(submitted);
    } else {
        println!("{id}");
        note(format!("follow it with `edp flow status {id}`"));
    }
    Ok(code::OK)
}

fn plan(flow: &Flow) -> Result<Vec<Plan<'_>>> {
    if !valid_name(&flow.name) {
        return Err(Failure::usage(format!(
            "`{}` is not a valid flow name: use 1 to {NAME_MAX} letters, digits, '-', '_' or '.', starting with a \
             letter or digit",
            flow.name
        )));
    }
    for key in &flow.force {
        if !flow.jobs.iter().any(|j| j.key == *key) {
            let keys: Vec<&str> = flow.jobs.iter().map(|j| j.key.as_str()).collect();
            return Err(Failure::usage(format!(
                "force names `{key}`, which is not a job of the flow (its jobs: {})",
                keys.join(", ")
            )));
        }
    }
    let mut plans = Vec::with_capacity(flow.jobs.len());
    for step in &flow.jobs {
        let key = &step.key;
        if !valid_name(key) {
            return Err(Failure::usage(format!(
                "job key `{key}` is not valid: use 1 to {NAME_MAX} letters, digits, '-', '_' or '.', starting with \
                 a letter or digit"
            )));
        }
        let kind = step.layer.kind.as_deref().ok_or_else(|| {
            Failure::usage(format!("job `{key}` has no type: give it `type:`, or give one under `defaults:`"))
        })?;
        let kind = kind.to_string();
        let template = step.layer.name.clone().unwrap_or_else(|| format!("{}-{key}", flow.name));
        if !valid_name(&template) {
            return Err(Failure::usage(format!(
                "job `{key}`: the template name `{template}` is not valid (at most {NAME_MAX} letters, digits, '-', \
                 '_' or '.'): give the job a `name:`"
            )));
        }
        let job_configs =
            submit::job_configs(&kind, &step.layer).map_err(|e| Failure::usage(format!("job `{key}`: {e}")))?;
        plans.push(Plan { step, kind, template, job_configs });
    }
    Ok(plans)
}

/// What this submission made to exist, so that jobs sharing a script, a
/// cluster or a data source ask for it once.
#[derive(Default)]
struct Made {
    clusters: HashMap<String, Value>,
    binaries: HashMap<String, String>,
    sources: HashMap<String, String>,
}

impl Made {
    /// The flow job: its binaries, template, cluster and data sources exist.
    async fn job(&mut self, ctx: &Ctx, plan: &Plan<'_>) -> Result<Value> {
        let layer = &plan.step.layer;
        let cluster = self.cluster(ctx, layer.cluster.as_deref().unwrap_or(&ctx.settings.default_cluster)).await?;
        let mut mains = Vec::new();
        for raw in layer.mains.iter().flatten() {
            mains.push(self.binary(ctx, raw).await?);
        }
        let mut libs = Vec::new();
        for raw in layer.libs.iter().flatten() {
            libs.push(self.binary(ctx, raw).await?);
        }
        let description = layer.description.as_deref().unwrap_or("created by edp flow submit");
        let template = prepare::template(ctx, &plan.template, &plan.kind, &mains, &libs, Some(description)).await?;
        let mut inputs = Vec::new();
        for raw in &plan.step.inputs {
            inputs.push(self.source(ctx, raw).await?);
        }
        let mut outputs = Vec::new();
        for raw in &plan.step.outputs {
            outputs.push(self.source(ctx, raw).await?);
        }
        Ok(json!({
            "key": plan.step.key,
            "job_template_id": text(&template, "id"),
            "cluster_id": text(&cluster, "id"),
            "inputs": inputs,
            "outputs": outputs,
            "job_configs": plan.job_configs,
        }))
    }

    async fn cluster(&mut self, ctx: &Ctx, raw: &str) -> Result<Value> {
        if let Some(found) = self.clusters.get(raw) {
            return Ok(found.clone());
        }
        let cluster = resolve::require(ctx, &CLUSTER, raw).await?;
        if text(&cluster, "status") == "Error" {
            note(format!("cluster `{}` is in Error: {}", text(&cluster, "name"), text(&cluster, "status_description")));
        }
        self.clusters.insert(raw.to_string(), cluster.clone());
        Ok(cluster)
    }

    async fn binary(&mut self, ctx: &Ctx, raw: &str) -> Result<String> {
        if let Some(id) = self.binaries.get(raw) {
            return Ok(id.clone());
        }
        let id = text(&prepare::binary(ctx, raw).await?, "id");
        self.binaries.insert(raw.to_string(), id.clone());
        Ok(id)
    }

    async fn source(&mut self, ctx: &Ctx, raw: &str) -> Result<String> {
        if let Some(id) = self.sources.get(raw) {
            return Ok(id.clone());
        }
        let id = submit::data_source(ctx, raw).await?;
        self.sources.insert(raw.to_string(), id.clone());
        Ok(id)
    }
}

async fn get(ctx: &Ctx, id: &str) -> Result<Value> {
    Ok(ctx.api.get(&format!("/v2/flows/{}", segment(id)), &[]).await?["flow"].clone())
}

pub async fn status(ctx: &Ctx, id: &str) -> Result<i32> {
    let flow = get(ctx, id).await?;
    if ctx.json {
        output::json(&flow);
    } else {
        print_flow(&flow);
    }
    Ok(code::OK)
}

async fn list(ctx: &Ctx, status: Option<String>, limit: u32) -> Result<i32> {
    if !(1..=1000).contains(&limit) {
        return Err(Failure::usage("--limit must be between 1 and 1000"));
    }
    let mut query = vec![("sort_by", "-created_at".to_string()), ("limit", limit.to_string())];
    if let Some(status) = status.filter(|s| !s.trim().is_empty()) {
        query.push(("status", resolve::one_of("flow status", &status, &FLOW_STATUSES)?));
    }
    let body = ctx.api.get("/v2/flows", &query).await?;
    let flows = body["flows"].as_array().cloned().unwrap_or_default();
    if ctx.json {
        output::json(&Value::Array(flows));
        return Ok(code::OK);
    }
    let now = Utc::now();
    let rows = flows
        .iter()
        .map(|f| {
            vec![
                text(f, "id"),
                text(f, "name"),
                text(f, "status"),
                job_counts(f),
                text(f, "created_at"),
                flow_elapsed(f, now).map(duration).unwrap_or_default(),
            ]
        })
        .collect();
    table(&["ID", "NAME", "STATUS", "JOBS", "CREATED", "ELAPSED"], rows);
    if body.pointer("/markers/next").is_some_and(|m| !m.is_null()) {
        note(format!("showing the {} most recent; --limit shows more", flows.len()));
    }
    Ok(code::OK)
}

/// `4: 3 succeeded, 1 skipped`.
fn job_counts(flow: &Value) -> String {
    let jobs = flow["jobs"].as_array().cloned().unwrap_or_default();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for job in &jobs {
        *counts.entry(text(job, "state").to_ascii_lowercase()).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(state, n)| format!("{n} {state}")).collect();
    format!("{}: {}", jobs.len(), parts.join(", "))
}

/// Sahara's cancel, for a flow: running jobs are cancelled, waiting ones
/// skipped. With --wait: 0 when the flow ends KILLED, 1 otherwise.
async fn cancel(ctx: &Ctx, id: &str, wait: bool) -> Result<i32> {
    let path = format!("/v2/flows/{}", segment(id));
    let answer = ctx.api.patch(&path, &json!({"info": {"status": "cancel"}})).await?;
    let flow = answer["flow"].clone();
    let status = text(&flow, "status");
    let ended = status != "RUNNING";
    if !wait {
        if ctx.json {
            output::json(&flow);
        } else if ended && status != "KILLED" {
            println!("flow {id} had already ended: {status}");
        } else {
            println!("flow {id}: cancel requested");
        }
        return Ok(code::OK);
    }
    if !ctx.json {
        println!("flow {id}: cancel requested; waiting");
    }
    let done = watch(ctx, id).await?;
    finish(ctx, &done);
    Ok(if text(&done, "status") == "KILLED" { code::OK } else { code::JOB_FAILED })
}

async fn graph(ctx: &Ctx, id: &str, dot: bool) -> Result<i32> {
    let path = format!("/v2/flows/{}/graph", segment(id));
    if dot {
        print!("{}", ctx.api.get_text(&path, &[("format", "dot".to_string())]).await?);
        return Ok(code::OK);
    }
    let graph = ctx.api.get(&path, &[]).await?["graph"].clone();
    if ctx.json {
        output::json(&graph);
        return Ok(code::OK);
    }
    // Data sources by name when they can be listed; ids otherwise.
    let sources: HashMap<String, Value> = ctx
        .api
        .list(resolve::DATA_SOURCE.path, resolve::DATA_SOURCE.list_key, &[])
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|d| (text(&d, "id"), d))
        .collect();
    let via = |id: &str| match sources.get(id) {
        Some(d) => format!("{} ({})", text(d, "name"), text(d, "url")),
        None => id.to_string(),
    };
    let rows = graph["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| vec![text(n, "key"), text(n, "state"), text(n, "reason")])
        .collect();
    table(&["JOB", "STATE", "REASON"], rows);
    let edges = graph["edges"].as_array().cloned().unwrap_or_default();
    if !edges.is_empty() {
        println!();
        let rows = edges.iter().map(|e| vec![text(e, "from"), text(e, "to"), via(&text(e, "via"))]).collect();
        table(&["FROM", "TO", "VIA"], rows);
    }
    Ok(code::OK)
}

async fn delete(ctx: &Ctx, id: &str) -> Result<i32> {
    ctx.api.delete(&format!("/v2/flows/{}", segment(id))).await?;
    if ctx.json {
        output::json(&json!({"id": id, "deleted": true}));
    } else {
        println!("flow {id} deleted (its jobs stay: `edp list`)");
    }
    Ok(code::OK)
}

/// Polls the flow until it has ended; returns the last flow seen. For
/// people, a line per job whose state or reason changed, and on a terminal
/// a spinner with the counts and the elapsed time.
async fn watch(ctx: &Ctx, id: &str) -> Result<Value> {
    let path = format!("/v2/flows/{}", segment(id));
    let mut view = Watch::new(id, ctx.json);
    let mut interval = FIRST_POLL;
    let mut unreachable_since: Option<Instant> = None;
    loop {
        let flow = match ctx.api.get(&path, &[]).await {
            Ok(body) => {
                unreachable_since = None;
                body["flow"].clone()
            }
            Err(e @ Failure::Unreachable { .. }) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > UNREACHABLE_GRACE {
                    view.clear();
                    return Err(e);
                }
                view.say(&format!("edpd does not answer ({e}); still trying"));
                tokio::time::sleep(MAX_POLL).await;
                continue;
            }
            Err(e) => {
                view.clear();
                return Err(e);
            }
        };
        let changed = view.update(&flow);
        if text(&flow, "status") != "RUNNING" {
            view.clear();
            return Ok(flow);
        }
        interval = if changed { FIRST_POLL } else { (interval * 3 / 2).min(MAX_POLL) };
        tokio::time::sleep(interval).await;
    }
}

/// The end of a watch: the final flow object, or the tree.
fn finish(ctx: &Ctx, flow: &Value) {
    if ctx.json {
        output::json(flow);
    } else {
        println!();
        print_flow(flow);
    }
}

struct Watch {
    id: String,
    quiet: bool,
    /// key → (state, reason) last shown.
    seen: HashMap<String, (String, String)>,
    spinner: Option<ProgressBar>,
}

impl Watch {
    fn new(id: &str, quiet: bool) -> Self {
        let spinner = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        });
        Self { id: id.to_string(), quiet, seen: HashMap::new(), spinner }
    }

    /// Shows what changed; whether anything did.
    fn update(&mut self, flow: &Value) -> bool {
        if self.quiet {
            return false;
        }
        let jobs = flow["jobs"].as_array().cloned().unwrap_or_default();
        let width = jobs.iter().map(|j| text(j, "key").chars().count()).max().unwrap_or(0);
        let now = Utc::now();
        let mut changed = false;
        for job in &jobs {
            let (key, state, reason) = (text(job, "key"), text(job, "state"), text(job, "reason"));
            let now_seen = (state.clone(), reason.clone());
            if self.seen.get(&key) == Some(&now_seen) {
                continue;
            }
            self.seen.insert(key.clone(), now_seen);
            changed = true;
            if state == "WAITING" && reason.is_empty() {
                continue;
            }
            let mut line = format!("{}  {key:<width$}  {state:<9}  {reason}", clock());
            if let Some(run) = execution(job, now) {
                line.push_str(&format!("  [{run}]"));
            }
            self.say(line.trim_end());
        }
        if let Some(spinner) = &self.spinner {
            let took = flow_elapsed(flow, now).map(duration).unwrap_or_default();
            let counts = job_counts(flow);
            spinner.set_message(format!("flow {} {}  {counts}  elapsed {took}", short(&self.id), text(flow, "status")));
        }
        changed
    }

    fn say(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.spinner {
            Some(spinner) => spinner.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    fn clear(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
    }
}

fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// The header and the tree, for `flow status` and the end of a wait.
fn print_flow(flow: &Value) {
    let now = Utc::now();
    let mut header = format!("flow {} `{}`: {}", text(flow, "id"), text(flow, "name"), text(flow, "status"));
    if let Some(took) = flow_elapsed(flow, now) {
        let word = if text(flow, "status") == "RUNNING" { "for" } else { "after" };
        header.push_str(&format!(" {word} {}", duration(took)));
    }
    let mut options = Vec::new();
    if flow["use_existing"].as_bool() == Some(true) {
        options.push("use_existing".to_string());
    }
    let force: Vec<&str> = flow["force"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !force.is_empty() {
        options.push(format!("force {}", force.join(", ")));
    }
    if !options.is_empty() {
        header.push_str(&format!(" ({})", options.join("; ")));
    }
    println!("{header}");
    for line in tree(flow, now) {
        println!("{line}");
    }
}

/// The flow's jobs as a tree by dependencies: roots first, in the flow's
/// order; a job with several producers once, under its first, with a note
/// naming the others. Each line: `key  STATE  reason`, the note, and the
/// execution id with its elapsed time.
fn tree(flow: &Value, now: DateTime<Utc>) -> Vec<String> {
    let jobs: Vec<Value> = flow["jobs"].as_array().cloned().unwrap_or_default();
    let keys: Vec<String> = jobs.iter().map(|j| text(j, "key")).collect();
    let index: HashMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let producers: Vec<Vec<usize>> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let mut found: Vec<usize> = j["depends_on"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().and_then(|k| index.get(k)).copied())
                .filter(|p| *p != i)
                .collect();
            found.dedup();
            found
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    let mut roots = Vec::new();
    for (i, ps) in producers.iter().enumerate() {
        match ps.first() {
            Some(p) => children[*p].push(i),
            None => roots.push(i),
        }
    }

    // (first column, job index); depth-first, each job once.
    let mut rows: Vec<(String, usize)> = Vec::new();
    let mut shown = vec![false; jobs.len()];
    fn walk(
        i: usize,
        lead: &str,
        rest: &str,
        children: &[Vec<usize>],
        keys: &[String],
        shown: &mut [bool],
        rows: &mut Vec<(String, usize)>,
    ) {
        if shown[i] {
            return;
        }
        shown[i] = true;
        rows.push((format!("{lead}{}", keys[i]), i));
        let kids: Vec<usize> = children[i].iter().copied().filter(|c| !shown[*c]).collect();
        for (n, c) in kids.iter().enumerate() {
            let last = n + 1 == kids.len();
            let (branch, below) = if last { ("└─ ", "   ") } else { ("├─ ", "│  ") };
            walk(*c, &format!("{rest}{branch}"), &format!("{rest}{below}"), children, keys, shown, rows);
        }
    }
    for root in roots {
        walk(root, "", "", &children, &keys, &mut shown, &mut rows);
    }
    // Whatever a broken graph left unreached, at the top level.
    for i in 0..jobs.len() {
        walk(i, "", "", &children, &keys, &mut shown, &mut rows);
    }

    let width = rows.iter().map(|(first, _)| first.chars().count()).max().unwrap_or(0);
    rows.iter()
        .map(|(first, i)| {
            let job = &jobs[*i];
            let mut parts = vec![format!("{first:<width$}"), format!("{:<9}", text(job, "state"))];
            let reason = text(job, "reason");
            if !reason.is_empty() {
                parts.push(reason);
            }
            let others: Vec<&str> = producers[*i].iter().skip(1).map(|p| keys[*p].as_str()).collect();
            if !others.is_empty() {
                parts.push(format!("(also depends on {})", others.join(", ")));
            }
            if let Some(run) = execution(job, now) {
                parts.push(format!("[{run}]"));
            }
            parts.join("  ").trim_end().to_string()
        })
        .collect()
}

/// `job <id>, 12s` for a job that has an execution.
fn execution(job: &Value, now: DateTime<Utc>) -> Option<String> {
    let id = text(job, "execution_id");
    if id.is_empty() {
        return None;
    }
    let took = parse_time(&text(job, "started_at")).map(|start| {
        let end = parse_time(&text(job, "ended_at")).unwrap_or(now);
        duration((end - start).num_seconds())
    });
    Some(match took {
        Some(took) => format!("job {id}, {took}"),
        None => format!("job {id}"),
    })
}

/// Seconds from the flow's creation to its end (or now).
fn flow_elapsed(flow: &Value, now: DateTime<Utc>) -> Option<i64> {
    let begin = parse_time(&text(flow, "created_at"))?;
    let end = parse_time(&text(flow, "end_time")).unwrap_or(now);
    Some((end - begin).num_seconds().max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(key: &str, state: &str, depends_on: &[&str], reason: &str) -> Value {
        json!({"key": key, "state": state, "depends_on": depends_on, "reason": reason, "execution_id": null})
    }

    #[test]
    fn a_diamond_is_a_tree_with_the_join_under_its_first_producer() {
        let mut d = job("d", "SUCCEEDED", &["b", "c"], "ran: its producers are done (b, c)");
        d["execution_id"] = json!("e-d");
        d["started_at"] = json!("2024-05-01T10:00:00.000000Z");
        d["ended_at"] = json!("2024-05-01T10:00:03.500000Z");
        let flow = json!({"jobs": [
            job("a", "SKIPPED", &[], "output exists: file:///w/a"),
            job("b", "SKIPPED", &["a"], "output exists: file:///w/b"),
            job("c", "SUCCEEDED", &["a"], "ran: output missing (file:///w/c)"),
            d,
            job("lone", "WAITING", &[], ""),
        ]});
        let lines = tree(&flow, Utc::now());
        assert_eq!(
            lines,
            [
                "a        SKIPPED    output exists: file:///w/a",
                "├─ b     SKIPPED    output exists: file:///w/b",
                "│  └─ d  SUCCEEDED  ran: its producers are done (b, c)  (also depends on c)  [job e-d, 3s]",
                "└─ c     SUCCEEDED  ran: output missing (file:///w/c)",
                "lone     WAITING",
            ]
        );
    }

    #[test]
    fn unknown_producers_and_loops_do_not_lose_jobs() {
        let flow = json!({"jobs": [job("x", "WAITING", &["y"], ""), job("y", "WAITING", &["x"], "")]});
        let lines = tree(&flow, Utc::now());
        assert_eq!(lines.len(), 2, "{lines:?}");
        let flow = json!({"jobs": [job("x", "WAITING", &["gone"], "")]});
        assert_eq!(tree(&flow, Utc::now()), ["x  WAITING"]);
    }

    #[test]
    fn counts() {
        let flow = json!({"jobs": [job("a", "SUCCEEDED", &[], ""), job("b", "SKIPPED", &[], ""),
                                   job("c", "SUCCEEDED", &[], "")]});
        assert_eq!(job_counts(&flow), "3: 1 skipped, 2 succeeded");
    }
}
