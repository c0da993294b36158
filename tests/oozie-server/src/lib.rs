//! A protocol-faithful Oozie + WebHDFS server for edp's tests, started on a
//! free loopback port and scripted from Rust.
//!
//! It answers what the Oozie engine plugin uses, as real servers answer
//! (checked against the recorded responses in `fixtures/`, see
//! `tests/fixtures.rs`): the Oozie web services API v1/v2 (versions, admin
//! status, submit with a configuration XML, lists with filters and 1-based
//! paging, job info / status / log / definition, start / suspend / resume /
//! kill with Oozie's silent preconditions, error headers over an HTML page)
//! and WebHDFS (MKDIRS, two-step CREATE through a DataNode on another port,
//! OPEN, GETFILESTATUS, LISTSTATUS, DELETE). Submitted workflow.xml files are
//! checked against the action schemas; workflows move PREP → RUNNING →
//! SUCCEEDED / KILLED / FAILED (and SUSPENDED) as a test says, and every
//! status change calls the job's notification URL as Oozie does.
//!
//! - `state`: jobs, the node-by-node progress of a workflow, the job log.
//! - `workflow`: parsing and schema-checking what clients submit.
//! - `api`, `webhdfs`: the HTTP endpoints; `json`, `errors`: answers.
//! - `net`: the accept loop and the "unreachable" switch; `fs`: the HDFS.

mod api;
mod errors;
pub mod fs;
pub mod json;
mod net;
pub mod state;
mod webhdfs;
pub mod workflow;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use state::{Flavor, Notification, Outcome, Request, WfStatus};
use state::{Pending, Store};

/// The `nameNode` jobs are told about; app paths resolve against this
/// server's HDFS whatever authority they name.
pub const NAME_NODE: &str = "hdfs://namenode.test:8020";
/// The `jobTracker` (YARN ResourceManager) jobs are told about.
pub const JOB_TRACKER: &str = "resourcemanager.test:8032";

#[derive(Clone, Debug)]
pub struct Options {
    pub flavor: Flavor,
    /// `oozie.system.id`, the third part of job ids.
    pub system_id: String,
    pub build_version: String,
    /// Tries after the first when a notification gets no 200 (Oozie: 3).
    pub notification_retries: u32,
    /// Between tries (Oozie: 60 s).
    pub notification_interval: Duration,
    /// Connect and read timeout of one try (Oozie: 10 s).
    pub notification_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            flavor: Flavor::Current,
            system_id: "oozie-oozi".into(),
            build_version: "4.3.1".into(),
            notification_retries: 3,
            notification_interval: Duration::from_secs(60),
            notification_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    NameNode,
    DataNode,
}

pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub options: Options,
    pub down: AtomicBool,
    pub muted: AtomicBool,
    /// Job calls (`/jobs`, `/job/{id}`) get no answer while set.
    pub hung: tokio::sync::watch::Sender<bool>,
    pub refused: AtomicU64,
    /// Bumped to cut every open connection.
    pub epoch: watch::Sender<u64>,
    pub runtime: tokio::runtime::Handle,
    pub http: reqwest::Client,
    pub oozie: OnceLock<String>,
    pub datanode: OnceLock<String>,
}

impl Shared {
    pub fn oozie_url(&self) -> String {
        self.oozie.get().cloned().unwrap_or_default()
    }

    pub fn datanode_url(&self) -> String {
        self.datanode.get().cloned().unwrap_or_default()
    }

    /// Sends notifications as Oozie's NotificationXCommand: a GET, retried
    /// on anything but a 200. Nothing goes out while the server is down or
    /// muted (those tries fail).
    pub fn dispatch(self: &Arc<Self>, pending: Vec<Pending>) {
        for p in pending {
            let index = {
                let mut store = self.store.lock().expect("store lock");
                store.notifications.push(Notification {
                    url: p.url.clone(),
                    job_id: p.job_id,
                    status: p.status,
                    attempts: 0,
                    answer: None,
                    delivered: false,
                });
                store.notifications.len() - 1
            };
            let shared = self.clone();
            self.runtime.spawn(async move {
                let tries = shared.options.notification_retries + 1;
                for attempt in 1..=tries {
                    let answer = if shared.down.load(Ordering::SeqCst) || shared.muted.load(Ordering::SeqCst) {
                        None
                    } else {
                        let sent = shared.http.get(&p.url).timeout(shared.options.notification_timeout).send().await;
                        sent.ok().map(|r| r.status().as_u16())
                    };
                    {
                        let mut store = shared.store.lock().expect("store lock");
                        let record = &mut store.notifications[index];
                        record.attempts = attempt;
                        record.answer = answer;
                        record.delivered = answer == Some(200);
                    }
                    if answer == Some(200) {
                        return;
                    }
                    if attempt < tries {
                        tokio::time::sleep(shared.options.notification_interval).await;
                    }
                }
            });
        }
    }
}

/// What a test sees of a workflow.
#[derive(Clone, Debug)]
pub struct JobView {
    pub id: String,
    pub app_name: String,
    pub app_path: String,
    pub status: String,
    pub user: String,
    /// The submitted configuration, last value of each name.
    pub conf: BTreeMap<String, String>,
    pub definition: String,
    /// (name, type, status, errorCode) of each action so far.
    pub actions: Vec<(String, String, String, Option<String>)>,
}

/// A running server. Dropping it stops it.
pub struct OozieServer {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    namenode: SocketAddr,
}

impl OozieServer {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let namenode = TcpListener::bind("127.0.0.1:0").await.expect("bind the Oozie/NameNode port");
        let datanode = TcpListener::bind("127.0.0.1:0").await.expect("bind the DataNode port");
        let namenode_addr = namenode.local_addr().expect("local addr");
        let datanode_addr = datanode.local_addr().expect("local addr");
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("an HTTP client");
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(&options.system_id, &options.build_version)),
            options,
            down: AtomicBool::new(false),
            muted: AtomicBool::new(false),
            hung: tokio::sync::watch::channel(false).0,
            refused: AtomicU64::new(0),
            epoch: watch::channel(0).0,
            runtime: tokio::runtime::Handle::current(),
            http,
            oozie: OnceLock::new(),
            datanode: OnceLock::new(),
        });
        let _ = shared.oozie.set(format!("http://{namenode_addr}/oozie"));
        let _ = shared.datanode.set(format!("http://{datanode_addr}"));
        let tasks = vec![
            net::serve(namenode, router(shared.clone(), Role::NameNode), shared.clone()),
            net::serve(datanode, router(shared.clone(), Role::DataNode), shared.clone()),
        ];
        Self { shared, tasks, namenode: namenode_addr }
    }

    /// `http://127.0.0.1:<port>/oozie`, the `oozie_url` of a cluster.
    pub fn oozie_url(&self) -> String {
        self.shared.oozie_url()
    }

    /// `http://127.0.0.1:<port>`, the `webhdfs_url` of a cluster.
    pub fn webhdfs_url(&self) -> String {
        format!("http://{}", self.namenode)
    }

    /// Unreachable (`true`): new connections are dropped, open ones cut,
    /// no notification goes out. Jobs stay as they are.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
        if down {
            self.shared.epoch.send_modify(|e| *e += 1);
        }
    }

    /// Hung (`true`): connections are taken and the registration checks
    /// (versions, admin status, WebHDFS) answered, but job calls (submit,
    /// list, info, kill) get no answer until it is lifted, as an Oozie whose
    /// database is stuck behaves.
    pub fn set_hung(&self, hung: bool) {
        self.shared.hung.send_replace(hung);
    }

    /// Notifications fail to go out (`true`), as when the way back to the
    /// listener is cut; they are retried and then dropped, as Oozie does.
    pub fn mute_notifications(&self, muted: bool) {
        self.shared.muted.store(muted, Ordering::SeqCst);
    }

    /// Oozie forgets the job, as its PurgeService does with old ones: it
    /// answers E0604 from then on.
    pub fn forget(&self, id: &str) {
        self.store().workflows.retain(|w| w.id != id);
    }

    /// Connections dropped while down.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// `NORMAL`, `SAFEMODE` or `NOWEBSERVICE`, as `admin/status` answers.
    pub fn set_system_mode(&self, mode: &str) {
        self.store().system_mode = mode.into();
    }

    /// The next submission is accepted but its reply is lost (the
    /// connection drops before the answer).
    pub fn lose_next_submit_reply(&self) {
        self.store().lose_next_submit_reply = true;
    }

    /// Workflows and coordinators created by submissions.
    pub fn submissions(&self) -> usize {
        self.store().submissions
    }

    pub fn workflow_ids(&self) -> Vec<String> {
        self.store().workflows.iter().map(|w| w.id.clone()).collect()
    }

    pub fn job(&self, id: &str) -> Option<JobView> {
        let store = self.store();
        let wf = store.workflow(id)?;
        Some(JobView {
            id: wf.id.clone(),
            app_name: wf.app_name.clone(),
            app_path: wf.app_path.clone(),
            status: wf.status.as_str().into(),
            user: wf.user.clone(),
            conf: wf.conf.iter().cloned().collect(),
            definition: wf.definition.clone(),
            actions: wf
                .actions
                .iter()
                .map(|a| (a.name.clone(), a.kind.clone(), a.status.clone(), a.error_code.clone()))
                .collect(),
        })
    }

    /// A file's bytes in the HDFS.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        match self.store().fs.get(path) {
            Some(fs::Entry { kind: fs::Kind::File(bytes), .. }) => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Every path in the HDFS, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.store().fs.paths()
    }

    /// Moves a RUNNING workflow on; see [`Outcome`].
    pub fn finish(&self, id: &str, outcome: Outcome) -> Result<(), String> {
        let pending = self.store().finish(id, &outcome)?;
        self.shared.dispatch(pending);
        Ok(())
    }

    /// The current action fails with `code` and takes its error path.
    pub fn fail_action(&self, id: &str, code: &str, message: &str) -> Result<(), String> {
        self.finish(id, Outcome::ActionError { code: code.into(), message: message.into() })
    }

    pub fn notifications(&self) -> Vec<Notification> {
        self.store().notifications.clone()
    }

    /// Every request answered so far (method, path, query).
    pub fn requests(&self) -> Vec<Request> {
        self.store().requests.clone()
    }

    /// Waits for the `n`th workflow (1-based) to be submitted; its id.
    pub async fn wait_for_workflow(&self, n: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.workflow_ids().get(n - 1) {
                return id.clone();
            }
            assert!(Instant::now() < deadline, "no workflow #{n} was submitted within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `check` holds for the workflow's view.
    pub async fn wait_for(&self, id: &str, what: &str, timeout: Duration, check: impl Fn(&JobView) -> bool) -> JobView {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(view) = self.job(id)
                && check(&view)
            {
                return view;
            }
            assert!(Instant::now() < deadline, "workflow {id}: {what} did not happen within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store.lock().expect("store lock")
    }
}

impl Drop for OozieServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // Cut the connections still open.
        self.shared.epoch.send_modify(|e| *e += 1);
    }
}

/// Holds a job call while the server is hung.
async fn hang(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut hung = shared.hung.subscribe();
    let _ = hung.wait_for(|h| !*h).await;
    next.run(request).await
}

async fn record(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    {
        let mut store = shared.store.lock().expect("store lock");
        store.requests.push(Request {
            method: request.method().to_string(),
            path: request.uri().path().to_string(),
            query: request.uri().query().unwrap_or("").to_string(),
        });
    }
    next.run(request).await
}

fn router(shared: Arc<Shared>, role: Role) -> Router {
    let webhdfs = Router::new()
        .route("/webhdfs/v1/", axum::routing::any(webhdfs::root))
        .route("/webhdfs/v1/{*path}", axum::routing::any(webhdfs::path));
    let app = match role {
        Role::NameNode => webhdfs
            .route("/oozie/versions", get(api::versions))
            .route("/oozie/{version}/admin/{what}", get(api::admin))
            .merge(
                Router::new()
                    .route("/oozie/{version}/jobs", post(api::jobs_post).get(api::jobs_get))
                    .route("/oozie/{version}/job/{id}", get(api::job_get).put(api::job_put))
                    .layer(axum::middleware::from_fn_with_state(shared.clone(), hang)),
            ),
        Role::DataNode => webhdfs,
    };
    app.with_state((shared.clone(), role)).layer(axum::middleware::from_fn_with_state(shared, record))
}
