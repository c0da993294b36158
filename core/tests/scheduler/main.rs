//! The scheduler one pass at a time (`manager::tick`), in process, against
//! an engine the tests script (`engine.rs`) and a real SQLite database:
//! launches, polls, leases between two nodes, and a cancel that races a
//! poll. (Run under nextest: each test is its own process, so the engine's
//! script is each test's own.)

mod engine;
mod policies;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use edp_core::{Edp, Engines, Scope, Settings, catalog, manager};
use edp_engine_api::host::{HostHooks, construct_module};
use edp_engine_api::wire::{EngineSettings, JobStatus};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use engine::{Script, Scripted};

struct Hints(UnboundedSender<String>);

impl HostHooks for Hints {
    fn status_hint(&self, _engine_id: &str, execution_id: &str) {
        let _ = self.0.send(execution_id.to_string());
    }
}

/// One node: an `Edp` on the database in `dir`, as `node`.
async fn node(dir: &TempDir, node: &str) -> Edp {
    node_on(&sqlite_url(dir), dir, node).await
}

/// One node on the database at `url`, its data in `dir`.
async fn node_on(url: &str, dir: &TempDir, node: &str) -> Edp {
    node_told(url, dir, node).await.0
}

/// [`node_on`], with what is told to its scheduler's hints (tests pass
/// hints to passes themselves).
async fn node_told(url: &str, dir: &TempDir, node: &str) -> (Edp, UnboundedReceiver<String>) {
    let db = edp_core::db::connect(url).await.expect("database");
    let (hints, told) = unbounded_channel();
    let module = edp_engine_api::plugin::root_module::<Scripted>();
    let hooks: Arc<dyn HostHooks> = Arc::new(Hints(hints.clone()));
    let engine = construct_module(module, std::path::Path::new("scripted"), EngineSettings::default(), &hooks)
        .expect("the scripted engine");
    // The SDK sends panics to the host's log, which a test does not print:
    // the default hook back, so that a failed assertion says what failed.
    drop(std::panic::take_hook());
    let settings = Settings {
        data_dir: dir.path().join("data"),
        node_id: node.into(),
        call_timeout: Duration::from_secs(2),
        launch_timeout: Duration::from_secs(2),
        cancel_timeout: Duration::from_secs(3),
        ..Settings::default()
    };
    (Edp::new(db, Engines::fixed(vec![engine]), settings, hints), told)
}

fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("edp.sqlite").display())
}

fn scope() -> Scope {
    Scope::admin("default")
}

/// A cluster on the scripted engine and a Shell template; their ids.
async fn objects(edp: &Edp) -> (String, String) {
    let cluster = catalog::clusters::declare(edp, "default", "scripted", "scripted", Default::default(), vec![], None)
        .await
        .expect("cluster");
    let internal = catalog::job_binaries::upload(edp, &scope(), "run.sh", b"true\n".to_vec()).await.expect("upload");
    let binary = catalog::job_binaries::create(
        edp,
        &scope(),
        serde_json::from_value(json!({"name": "run.sh", "url": format!("internal-db://{}", internal.id)})).unwrap(),
    )
    .await
    .expect("binary");
    let template = catalog::job_templates::create(
        edp,
        &scope(),
        serde_json::from_value(json!({"name": "run", "type": "Shell", "mains": [binary.id]})).unwrap(),
    )
    .await
    .expect("template");
    (cluster.id, template.id)
}

async fn launch(edp: &Edp, cluster: &str, template: &str) -> String {
    let new = serde_json::from_value(json!({"job_template_id": template, "cluster_id": cluster})).unwrap();
    manager::launch_job(edp, &scope(), new).await.expect("launch").id
}

async fn status(edp: &Edp, id: &str) -> String {
    manager::get(edp, &scope(), id, false).await.expect("job").status
}

/// One pass, and every step it started, to the end.
async fn pass(edp: &Edp, wanted: &[&str]) {
    let mut wanted: HashSet<String> = wanted.iter().map(|s| s.to_string()).collect();
    manager::tick(edp, &mut wanted).await.expect("tick").finish().await;
}

/// A column of the job's row that the API does not show.
async fn column(edp: &Edp, id: &str, column: &str) -> Option<String> {
    let row = edp
        .db()
        .query_one_raw(Statement::from_string(
            edp.db().get_database_backend(),
            format!("SELECT CAST({column} AS TEXT) AS v FROM job_executions WHERE id = '{id}'"),
        ))
        .await
        .expect("query")
        .expect("the row");
    row.try_get::<Option<String>>("", "v").expect("a text column")
}

fn set_script(script: Script) -> Arc<Script> {
    let script = Arc::new(script);
    *engine::script().lock().unwrap() = script.clone();
    script
}

/// Whether the scripted engine's gate starts open.
enum Gate {
    Open,
    Closed,
}

/// A script whose polls and launches wait while its gate is closed.
fn gated(gate: Gate) -> Arc<Script> {
    let (gate, _) = tokio::sync::watch::channel(matches!(gate, Gate::Open));
    set_script(Script { gate: Some(gate), ..Script::default() })
}

/// Waits until the engine has been called `n` times by `calls`.
async fn engine_called(calls: &std::sync::Mutex<usize>, n: usize, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while *calls.lock().unwrap() < n {
        assert!(std::time::Instant::now() < deadline, "{what} never reached the engine");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A node, and a job a pass of it launched: RUNNING, its lease given back.
async fn running_job(dir: &TempDir) -> (Edp, String) {
    let edp = node(dir, "n1").await;
    let (cluster, template) = objects(&edp).await;
    let id = launch(&edp, &cluster, &template).await;
    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &id).await, "RUNNING");
    (edp, id)
}

fn engine_status(script: &Script, id: &str) -> Option<JobStatus> {
    script.jobs.lock().unwrap().get(id).map(|j| j.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_launches_a_job_and_a_later_one_sees_it_end() {
    let script = set_script(Script::default());
    let dir = tempfile::tempdir().unwrap();
    let edp = node(&dir, "n1").await;
    let (cluster, template) = objects(&edp).await;
    let id = launch(&edp, &cluster, &template).await;

    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &id).await, "RUNNING");
    assert_eq!(column(&edp, &id, "lease_owner").await, None, "the launch gave its lease back");

    script.jobs.lock().unwrap().get_mut(&id).unwrap().status = JobStatus::Succeeded;
    pass(&edp, &[&id]).await;
    assert_eq!(status(&edp, &id).await, "SUCCEEDED");
    assert_eq!(column(&edp, &id, "next_action_at").await, None, "nothing more to do");
}

/// A job that ends while its launch is still being recorded (the engine's
/// hint comes while the launch holds the row's lease): the hint is held
/// while the launch runs, not claimed (that would fail on the launch's
/// lease), told again once the launch gives the lease back, and the pass it
/// wakes records the end, not the first poll a second later. (A lost hint
/// was the 1 s tail of POST -> SUCCEEDED under load; issue 16.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hint_that_comes_while_the_launch_holds_the_row_is_told_again_when_it_ends() {
    let script = gated(Gate::Closed);
    let dir = tempfile::tempdir().unwrap();
    let (edp, mut told) = node_told(&sqlite_url(&dir), &dir, "n1").await;
    let (id, launching) = an_ended_job_whose_launch_is_held(&edp, &script).await;
    // The engine says so at once: the hint is held.
    let mut wanted: HashSet<String> = [id.clone()].into();
    manager::tick_hints(&edp, &mut wanted).await.unwrap().finish().await;
    assert!(wanted.is_empty(), "a hint for a row whose step runs here was not held: {wanted:?}");
    assert!(told.try_recv().is_err(), "a held hint was told again before its step ended");

    // The launch is recorded (RUNNING, first poll a second away), the hint
    // told again...
    script.gate.as_ref().unwrap().send_replace(true);
    launching.finish().await;
    assert_eq!(status(&edp, &id).await, "RUNNING");
    let again = tokio::time::timeout(Duration::from_secs(10), told.recv()).await.expect("the held hint told again");
    assert_eq!(again.as_deref(), Some(id.as_str()));
    // ... and the pass it wakes reads the row, asks, and records the end.
    let mut wanted: HashSet<String> = [id.clone()].into();
    manager::tick_hints(&edp, &mut wanted).await.unwrap().finish().await;
    assert!(wanted.is_empty());
    assert_eq!(status(&edp, &id).await, "SUCCEEDED");
}

/// The same hint on a node where the step does not run (another node
/// launches the job): its look at the row finds it busy, and the hint is kept
/// until the lease is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hint_for_a_row_another_node_holds_is_kept_until_it_can_be_claimed() {
    let script = gated(Gate::Closed);
    let dir = tempfile::tempdir().unwrap();
    let first = node(&dir, "n1").await;
    let second = node(&dir, "n2").await;
    let (id, launching) = an_ended_job_whose_launch_is_held(&first, &script).await;
    let mut wanted: HashSet<String> = [id.clone()].into();
    manager::tick_hints(&second, &mut wanted).await.unwrap().finish().await;
    assert!(wanted.contains(&id), "a hint for a row whose lease is held was dropped");

    script.gate.as_ref().unwrap().send_replace(true);
    launching.finish().await;
    assert_eq!(status(&second, &id).await, "RUNNING");
    manager::tick_hints(&second, &mut wanted).await.unwrap().finish().await;
    assert!(wanted.is_empty());
    assert_eq!(status(&second, &id).await, "SUCCEEDED");
}

/// A job launched by a pass of `edp` and held at the gated engine, its
/// lease taken, that has ended there meanwhile; and that pass, which
/// finishes once the gate opens.
async fn an_ended_job_whose_launch_is_held(edp: &Edp, script: &Script) -> (String, manager::Pass) {
    let (cluster, template) = objects(edp).await;
    let id = launch(edp, &cluster, &template).await;
    let launching = manager::tick(edp, &mut HashSet::new()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while engine_status(script, &id).is_none() {
        assert!(std::time::Instant::now() < deadline, "the launch never reached the engine");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    script.jobs.lock().unwrap().get_mut(&id).unwrap().status = JobStatus::Succeeded;
    (id, launching)
}

/// A hint alone wakes only the hinted row's poll: the ended job is
/// recorded at once, and what is due meanwhile (a job waiting for its
/// launch) waits for the next whole pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_for_hints_alone_records_the_hinted_end_and_leaves_due_work_to_the_whole_pass() {
    let script = set_script(Script::default());
    let dir = tempfile::tempdir().unwrap();
    let edp = node(&dir, "n1").await;
    let (cluster, template) = objects(&edp).await;
    let ended = launch(&edp, &cluster, &template).await;
    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &ended).await, "RUNNING");
    let waiting = launch(&edp, &cluster, &template).await;
    script.jobs.lock().unwrap().get_mut(&ended).unwrap().status = JobStatus::Succeeded;

    let mut wanted: HashSet<String> = [ended.clone()].into();
    for step in manager::tick_hints(&edp, &mut wanted).await.expect("hints").tasks {
        step.await.unwrap();
    }
    assert!(wanted.is_empty());
    assert_eq!(status(&edp, &ended).await, "SUCCEEDED", "the hinted end was not recorded");
    assert_eq!(status(&edp, &waiting).await, "PENDING");
    assert_eq!(*script.run_calls.lock().unwrap(), 1, "a pass for hints launched a job");

    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &waiting).await, "RUNNING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_poll_that_finds_nothing_new_writes_nothing_but_the_next_poll() {
    set_script(Script::default());
    let dir = tempfile::tempdir().unwrap();
    let (edp, id) = running_job(&dir).await;
    let updated = column(&edp, &id, "updated_at").await;
    let info = manager::get(&edp, &scope(), &id, false).await.unwrap().info;

    make_due(&edp, &id).await;
    pass(&edp, &[]).await;
    // Its lease waits for the next pass to go back with the others.
    assert_eq!(column(&edp, &id, "lease_owner").await.as_deref(), Some("n1"));
    pass(&edp, &[]).await;
    assert_eq!(column(&edp, &id, "lease_owner").await, None);
    assert_eq!(column(&edp, &id, "updated_at").await, updated, "an unchanged poll changed the row");
    assert_eq!(manager::get(&edp, &scope(), &id, false).await.unwrap().info, info);
    let next = column(&edp, &id, "next_action_at").await.expect("it is polled again later");
    assert!(next.as_str() > "2001", "its next poll is later, not the past due time: {next}");
}

/// A hinted job's poll runs on the row as read, unclaimed: an answer that
/// changes nothing leaves the row exactly as it was, no lease taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hinted_poll_that_finds_nothing_new_leaves_the_row_as_it_was() {
    let script = set_script(Script::default());
    let dir = tempfile::tempdir().unwrap();
    let (edp, id) = running_job(&dir).await;
    let before: Vec<_> = columns(&edp, &id, &["updated_at", "next_action_at", "lease_owner", "lease_token"]).await;
    let calls = *script.status_calls.lock().unwrap();

    let mut wanted: HashSet<String> = [id.clone()].into();
    manager::tick_hints(&edp, &mut wanted).await.unwrap().finish().await;
    assert!(wanted.is_empty());
    assert_eq!(*script.status_calls.lock().unwrap(), calls + 1, "the hinted job's engine was asked");
    let after = columns(&edp, &id, &["updated_at", "next_action_at", "lease_owner", "lease_token"]).await;
    assert_eq!(after, before);
}

/// A hinted poll holds no lease, so its write is conditional on nobody
/// holding one: a step that claimed the row meanwhile (here, on another
/// node) writes what it learns itself, and the poll's answer is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hinted_polls_answer_is_not_written_over_a_row_claimed_meanwhile() {
    let claimed = "lease_owner = 'n2', lease_token = 'held', lease_expires_at = '2999-01-01T00:00:00Z'";
    let (edp, id, _dir) = hinted_poll_across(JobStatus::Succeeded, claimed).await;
    assert_eq!(status(&edp, &id).await, "RUNNING", "written over a row another step holds");
    assert_eq!(column(&edp, &id, "lease_token").await.as_deref(), Some("held"));
}

/// Nor over a row whose job was launched again meanwhile (a retry: same
/// status, another engine job): an end learnt of the earlier job is not the
/// new one's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hinted_polls_answer_is_not_written_over_a_later_launch_of_the_job() {
    let (edp, id, _dir) = hinted_poll_across(JobStatus::Failed, "engine_job_id = 'second-launch'").await;
    assert_eq!(status(&edp, &id).await, "RUNNING", "the earlier job's end was written over the later one");
    assert_eq!(column(&edp, &id, "engine_job_id").await.as_deref(), Some("second-launch"));
}

/// A running job that ends `ended` at the engine, whose hinted poll the
/// engine holds while its row changes (`meanwhile`: an UPDATE's SET), then
/// answers; the node, the job, and its directory, once the poll is done.
async fn hinted_poll_across(ended: JobStatus, meanwhile: &str) -> (Edp, String, TempDir) {
    let script = gated(Gate::Open);
    let dir = tempfile::tempdir().unwrap();
    let (edp, id) = running_job(&dir).await;

    script.jobs.lock().unwrap().get_mut(&id).unwrap().status = ended;
    script.gate.as_ref().unwrap().send_replace(false);
    let calls = *script.status_calls.lock().unwrap();
    let mut wanted: HashSet<String> = [id.clone()].into();
    let polling = manager::tick_hints(&edp, &mut wanted).await.unwrap();
    engine_called(&script.status_calls, calls + 1, "the hinted poll").await;
    sea_orm::ConnectionTrait::execute_unprepared(
        edp.db(),
        &format!("UPDATE job_executions SET {meanwhile} WHERE id = '{id}'"),
    )
    .await
    .unwrap();
    script.gate.as_ref().unwrap().send_replace(true);
    polling.finish().await;
    (edp, id, dir)
}

/// Makes a job's next step due now (a pass claims it).
async fn make_due(edp: &Edp, id: &str) {
    sea_orm::ConnectionTrait::execute_unprepared(
        edp.db(),
        &format!("UPDATE job_executions SET next_action_at = '2000-01-01T00:00:00Z' WHERE id = '{id}'"),
    )
    .await
    .unwrap();
}

/// Several of [`column`]'s columns.
async fn columns(edp: &Edp, id: &str, names: &[&str]) -> Vec<Option<String>> {
    let mut values = Vec::new();
    for name in names {
        values.push(column(edp, id, name).await);
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_keeps_a_second_node_off_a_row_until_it_expires() {
    let script = gated(Gate::Closed);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (node(&dir, "a").await, node(&dir, "b").await);
    let (cluster, template) = objects(&a).await;
    let id = launch(&a, &cluster, &template).await;

    // Node a claims the launch; the engine takes the job and hangs.
    let mut wanted = HashSet::new();
    let a_pass = manager::tick(&a, &mut wanted).await.unwrap();
    engine_called(&script.run_calls, 1, "the launch").await;
    assert_eq!(column(&a, &id, "lease_owner").await.as_deref(), Some("a"));
    // Node b leaves it alone while a's lease holds...
    pass(&b, &[&id]).await;
    assert_eq!(column(&b, &id, "lease_owner").await.as_deref(), Some("a"));
    assert_eq!(*script.run_calls.lock().unwrap(), 1);
    // ...a's launch times out (it does not know the job started), and its
    // retry is due; had a died instead, b takes over once the lease lapses.
    a_pass.finish().await;
    script.gate.as_ref().unwrap().send_replace(true);
    let lease = a.settings().lease();
    assert!(lease < Duration::from_secs(20), "{lease:?}");
    sea_orm::ConnectionTrait::execute_unprepared(
        b.db(),
        &format!(
            "UPDATE job_executions SET lease_owner = 'a', lease_token = 'dead', lease_expires_at = '2000-01-01T00:00:00Z', next_action_at = '2000-01-01T00:00:00Z' WHERE id = '{id}'"
        ),
    )
    .await
    .unwrap();
    pass(&b, &[]).await;
    assert_eq!(status(&b, &id).await, "RUNNING", "b took over the expired lease and launched");
    let job = script.jobs.lock().unwrap()[&id].clone();
    assert_eq!(job.starts, 1, "asked twice with one submission tag, the engine started the job once");
    assert_eq!(column(&b, &id, "lease_owner").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_a_poll_is_not_overwritten_by_it() {
    let script = gated(Gate::Open);
    let dir = tempfile::tempdir().unwrap();
    let (edp, id) = running_job(&dir).await;

    // A poll starts and is held by the engine...
    script.gate.as_ref().unwrap().send_replace(false);
    let mut wanted: HashSet<String> = [id.clone()].into();
    let polling = manager::tick(&edp, &mut wanted).await.unwrap();
    engine_called(&script.status_calls, 1, "the poll").await;
    // ...a cancel comes meanwhile...
    manager::update(&edp, &scope(), &id, serde_json::from_value(json!({"info": {"status": "cancel"}})).unwrap())
        .await
        .expect("cancel");
    assert_eq!(status(&edp, &id).await, "TOBEKILLED");
    // ...then the poll answers RUNNING: it must not undo the cancel.
    script.gate.as_ref().unwrap().send_replace(true);
    polling.finish().await;
    assert_eq!(status(&edp, &id).await, "TOBEKILLED");
    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &id).await, "KILLED");
    assert_eq!(engine_status(&script, &id), Some(JobStatus::Killed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_of_a_launch_that_reached_the_engine_unrecorded_kills_what_it_started() {
    let script = gated(Gate::Closed);
    let dir = tempfile::tempdir().unwrap();
    let edp = node(&dir, "n1").await;
    let (cluster, template) = objects(&edp).await;
    let id = launch(&edp, &cluster, &template).await;
    // The engine starts the job but never answers: the launch times out.
    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &id).await, "PENDING");
    assert_eq!(engine_status(&script, &id), Some(JobStatus::Running), "the engine has it");
    // Cancelled before the retry: the engine is asked by submission tag,
    // and the job it has is killed before the execution says KILLED.
    script.gate.as_ref().unwrap().send_replace(true);
    manager::update(&edp, &scope(), &id, serde_json::from_value(json!({"info": {"status": "cancel"}})).unwrap())
        .await
        .expect("cancel");
    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &id).await, "KILLED");
    assert_eq!(engine_status(&script, &id), Some(JobStatus::Killed), "a blind cancel would have left it running");
    assert_eq!(script.jobs.lock().unwrap()[&id].kills, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_before_any_launch_asks_nothing() {
    let script = set_script(Script::default());
    let dir = tempfile::tempdir().unwrap();
    let edp = node(&dir, "n1").await;
    let (cluster, template) = objects(&edp).await;
    let id = launch(&edp, &cluster, &template).await;
    manager::update(&edp, &scope(), &id, serde_json::from_value(json!({"info": {"status": "cancel"}})).unwrap())
        .await
        .expect("cancel");
    pass(&edp, &[]).await;
    assert_eq!(status(&edp, &id).await, "KILLED");
    assert_eq!(*script.run_calls.lock().unwrap(), 0);
    assert!(script.jobs.lock().unwrap().is_empty());
}

/// With its scheduler running, a node launches a job nothing holds back
/// without waiting for a pass: the row is stored already claimed by it, and
/// its launch is under way before `launch_job` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_nothing_holds_back_is_stored_claimed_and_launched_at_once() {
    let script = gated(Gate::Closed);
    let dir = tempfile::tempdir().unwrap();
    let edp = node(&dir, "n1").await;
    let (cluster, template) = objects(&edp).await;
    let (_hints, hinted) = unbounded_channel();
    let scheduler = manager::spawn(edp.clone(), hinted);

    let id = launch(&edp, &cluster, &template).await;
    // Stored claimed: a pass claims with the same lease, so this also holds
    // when the row is claimed by a pass, but no pass can be this quick.
    assert_eq!(column(&edp, &id, "lease_owner").await.as_deref(), Some("n1"));
    assert_eq!(column(&edp, &id, "submitted").await.as_deref(), Some("1"), "a launch that may reach the engine");
    engine_called(&script.run_calls, 1, "the launch").await;
    assert_eq!(status(&edp, &id).await, "PENDING", "the engine has not answered yet");

    script.gate.as_ref().unwrap().send_replace(true);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while status(&edp, &id).await != "RUNNING" {
        assert!(std::time::Instant::now() < deadline, "the launch was never recorded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*script.run_calls.lock().unwrap(), 1, "launched once");
    scheduler.abort();
}
