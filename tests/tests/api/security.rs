//! Who may do what, across projects: a matrix generated from a model of the
//! rules (ARCHITECTURE.md, "Security model") rather than written case by
//! case. Every resource kind × every verb × {private, public, protected}
//! objects of team-a × {team-a's token, team-b's token, no token, a wrong
//! token, an admin's token}: the exact status and error name, and, when a
//! change is refused, that nothing changed. The same matrix runs on SQLite
//! and on Postgres.

use std::collections::BTreeMap;
use std::time::Duration;

use edp_tests::{Caller, TestApp, eventually};
use serde_json::{Value, json};

use crate::helpers::{TERMINAL, local_cluster, wait_as};

/// Three projects, an admin, anonymous requests acting for `default`, files
/// only under `files/` (relative to edpd's working directory), and `local`
/// open to team-a and team-b only.
const CONFIG: &str = r#"
[auth]
default_project = "default"
allow_anonymous = true
tokens = { "tok-a" = "team-a", "tok-b" = "team-b", "tok-admin" = { project = "ops", admin = true } }

[paths]
file_roots = ["files"]

[clusters.local]
plugin_name = "local"
projects = ["team-a", "team-b"]
"#;

pub async fn start(builder: edp_tests::app::Builder) -> TestApp {
    builder.file("edp.toml", CONFIG).file("files/README", "what edpd may serve as files\n").start().await
}

fn files_root(app: &TestApp) -> std::path::PathBuf {
    app.root.path().join("files")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    A,
    B,
    Anonymous,
    WrongToken,
    Admin,
}

impl Who {
    const ALL: [Who; 5] = [Who::A, Who::B, Who::Anonymous, Who::WrongToken, Who::Admin];

    fn caller(self, app: &TestApp) -> Caller<'_> {
        match self {
            Who::A => app.with_token("tok-a"),
            Who::B => app.with_token("tok-b"),
            Who::Anonymous => app.anonymous(),
            Who::WrongToken => app.with_token("tok-zzz"),
            Who::Admin => app.with_token("tok-admin"),
        }
    }

    /// Whether it may change team-a's objects.
    fn owns(self) -> bool {
        matches!(self, Who::A | Who::Admin)
    }
}

/// The API a request goes through: v2, or v1.1 with the caller's project
/// in the URL (an admin's naming team-a, in which it then acts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    V2,
    V11,
}

impl Api {
    const ALL: [Api; 2] = [Api::V2, Api::V11];

    /// Whether v1.1 has this request (its reads, deletes and cancels are
    /// checked through it too; its writes share v2's core calls).
    fn has(self, kind: Kind, verb: Verb) -> bool {
        match self {
            Api::V2 => true,
            Api::V11 => {
                kind.v11_collection().is_some()
                    && matches!(verb, Verb::List | Verb::Get | Verb::Delete | Verb::Data | Verb::Cancel)
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Private,
    Public,
    /// Public and protected.
    Protected,
}

impl Flavor {
    const ALL: [Flavor; 3] = [Flavor::Private, Flavor::Public, Flavor::Protected];

    fn flags(self) -> Value {
        match self {
            Flavor::Private => json!({"is_public": false, "is_protected": false}),
            Flavor::Public => json!({"is_public": true, "is_protected": false}),
            Flavor::Protected => json!({"is_public": true, "is_protected": true}),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    DataSource,
    Internal,
    Binary,
    Template,
    Cluster,
    Job,
    Flow,
}

impl Kind {
    const ALL: [Kind; 7] =
        [Kind::DataSource, Kind::Internal, Kind::Binary, Kind::Template, Kind::Cluster, Kind::Job, Kind::Flow];

    fn collection(self) -> (&'static str, &'static str) {
        match self {
            Kind::DataSource => ("/v2/data-sources", "data_sources"),
            Kind::Internal => ("/v2/job-binary-internals", "binaries"),
            Kind::Binary => ("/v2/job-binaries", "binaries"),
            Kind::Template => ("/v2/job-templates", "job_templates"),
            Kind::Cluster => ("/v2/clusters", "clusters"),
            Kind::Job => ("/v2/jobs", "jobs"),
            Kind::Flow => ("/v2/flows", "flows"),
        }
    }

    fn path(self, id: &str) -> String {
        format!("{}/{id}", self.collection().0)
    }

    /// v1.1's collection (after `/v1.1/{project}`) and its list's key.
    fn v11_collection(self) -> Option<(&'static str, &'static str)> {
        match self {
            Kind::DataSource => Some(("data-sources", "data_sources")),
            Kind::Internal => Some(("job-binary-internals", "binaries")),
            Kind::Binary => Some(("job-binaries", "binaries")),
            Kind::Template => Some(("jobs", "jobs")),
            Kind::Cluster => Some(("clusters", "clusters")),
            Kind::Job => Some(("job-executions", "job_executions")),
            Kind::Flow => None,
        }
    }

    /// Uploaded bytes cannot be made public or protected.
    fn flavors(self) -> &'static [Flavor] {
        match self {
            Kind::Internal => &[Flavor::Private],
            _ => &Flavor::ALL,
        }
    }

    fn verbs(self) -> &'static [Verb] {
        use Verb::*;
        match self {
            Kind::DataSource => &[List, Get, Update, Delete, Use],
            Kind::Internal => &[List, Get, Delete, Data],
            Kind::Binary => &[List, Get, Update, Delete, Data],
            Kind::Template => &[List, Get, Update, Delete, Use],
            Kind::Cluster => &[List, Get, Update, Delete, Use],
            Kind::Job => &[List, Get, Update, Delete, Cancel, Suspend, Resume, Logs, Output, Rerun],
            Kind::Flow => &[List, Get, Delete, Cancel, Graph],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    List,
    Get,
    Update,
    Delete,
    Cancel,
    Suspend,
    Resume,
    Logs,
    /// `GET /v2/jobs/{id}/output` (of a running job: refused, once visible).
    Output,
    Data,
    Graph,
    /// Launch a job with it (a template, an input data source, a cluster).
    Use,
    /// `POST /v2/jobs/{id}/rerun`: a new job from the job's own request.
    Rerun,
}

impl Verb {
    fn changes(self) -> bool {
        matches!(
            self,
            Verb::Update | Verb::Delete | Verb::Cancel | Verb::Suspend | Verb::Resume | Verb::Use | Verb::Rerun
        )
    }
}

/// What the rules say a request answers: a status and, for errors, the
/// Sahara error name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expect {
    status: u16,
    error: Option<&'static str>,
}

const fn ok(status: u16) -> Expect {
    Expect { status, error: None }
}

const fn refused(status: u16, error: &'static str) -> Expect {
    Expect { status, error: Some(error) }
}

/// The model: the security rules, written once, independently of edpd.
fn expect(who: Who, kind: Kind, flavor: Flavor, verb: Verb, api: Api) -> Expect {
    if who == Who::WrongToken {
        return refused(401, "UNAUTHORIZED");
    }
    let visible = who.owns() || flavor != Flavor::Private;
    let protected = flavor == Flavor::Protected;
    let not_found = refused(404, "NOT_FOUND");
    match verb {
        Verb::List => ok(200),
        Verb::Output if visible => refused(400, "VALIDATION_ERROR"),
        Verb::Get | Verb::Logs | Verb::Output | Verb::Data | Verb::Graph => {
            if visible {
                ok(200)
            } else {
                not_found
            }
        }
        Verb::Update => {
            // A job's PATCH here only changes flags, which a protected
            // object allows.
            if !visible {
                not_found
            } else if !who.owns() || (protected && kind != Kind::Job) {
                refused(400, "UPDATE_FAILED")
            } else {
                ok(202)
            }
        }
        Verb::Delete => {
            if !visible {
                not_found
            } else if !who.owns() || protected {
                refused(400, "DELETION_FAILED")
            } else {
                ok(204)
            }
        }
        Verb::Cancel => {
            if !visible {
                not_found
            } else if !who.owns() || protected {
                refused(400, "CANCELING_FAILED")
            } else if api == Api::V11 {
                // v1.1's GET .../cancel answers the execution.
                ok(200)
            } else {
                ok(202)
            }
        }
        Verb::Suspend | Verb::Resume => {
            if !visible {
                not_found
            } else if !who.owns() || protected {
                refused(400, "UPDATE_FAILED")
            } else {
                // The local engine cannot suspend; it is asked last.
                refused(400, "INVALID_DATA")
            }
        }
        // A re-run submits the job's request as it was given, secrets and
        // all: the job's own project only (admins included), protected or not.
        Verb::Rerun => {
            if !visible {
                not_found
            } else if !who.owns() {
                refused(403, "FORBIDDEN")
            } else {
                ok(202)
            }
        }
        // The launch resolves the template, then the cluster (and whether
        // the project may use it: `local` is open to team-a and team-b),
        // then the data sources.
        Verb::Use => match kind {
            Kind::Template if !visible => refused(400, "INVALID_REFERENCE"),
            Kind::Template | Kind::DataSource if who == Who::Anonymous => refused(403, "FORBIDDEN"),
            Kind::Template => ok(202),
            Kind::DataSource if !visible => refused(400, "INVALID_REFERENCE"),
            Kind::DataSource => ok(202),
            Kind::Cluster if !visible => refused(400, "INVALID_REFERENCE"),
            // Registered by an admin for team-a: a host cluster serves its
            // owner's project only (and admins).
            Kind::Cluster if who.owns() => ok(202),
            Kind::Cluster => refused(403, "FORBIDDEN"),
            other => unreachable!("{other:?} is not used in launches"),
        },
    }
}

/// What the matrix's requests need besides the object under test.
#[derive(Default)]
struct Shared {
    /// team-a's public template running `true`.
    true_template: String,
    /// team-a's private template running `sleep "$1"`.
    sleep_template: String,
    local: String,
    counter: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn unique(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{prefix}-{n}")
    }
}

fn id_of(body: &Value, key: &str) -> String {
    body[key]["id"].as_str().unwrap_or_else(|| panic!("no {key}.id in {body}")).to_string()
}

fn with_flags(mut body: Value, flavor: Flavor) -> Value {
    for (k, v) in flavor.flags().as_object().expect("flags").clone() {
        body[k] = v;
    }
    body
}

/// A fresh object of team-a of this kind and flavor. `for_verb` shapes
/// flows: one to cancel is running, one to delete has ended.
async fn create(app: &TestApp, shared: &Shared, kind: Kind, flavor: Flavor, for_verb: Verb) -> String {
    let a = Who::A.caller(app);
    match kind {
        Kind::DataSource => {
            let url = format!("file://{}/{}", files_root(app).display(), shared.unique("ds"));
            let body = with_flags(json!({"name": shared.unique("ds"), "type": "file", "url": url}), flavor);
            id_of(&a.post("/v2/data-sources", body).await.expect(202), "data_source")
        }
        Kind::Internal => {
            let name = format!("{}.sh", shared.unique("bytes"));
            let reply =
                a.send_raw(reqwest::Method::PUT, &format!("/v2/job-binary-internals/{name}"), b"true\n".to_vec()).await;
            id_of(&reply.expect(202), "job_binary_internal")
        }
        Kind::Binary => binary(app, &shared.unique("bin"), flavor, "true\n").await,
        Kind::Template => {
            let main = binary(app, &shared.unique("bin"), flavor, "true\n").await;
            let body = with_flags(json!({"name": shared.unique("tpl"), "type": "Shell", "mains": [main]}), flavor);
            id_of(&a.post("/v2/job-templates", body).await.expect(202), "job_template")
        }
        Kind::Cluster => {
            // `local` clusters run on the host: only an admin registers one,
            // here for team-a.
            let admin = Who::Admin.caller(app);
            let body = with_flags(json!({"name": shared.unique("cl"), "plugin_name": "local"}), flavor);
            id_of(&admin.post("/v2/team-a/clusters", body).await.expect(202), "cluster")
        }
        Kind::Job => {
            let body = with_flags(
                json!({"job_template_id": shared.sleep_template, "cluster_id": shared.local, "job_configs": {"args": ["600"]}}),
                flavor,
            );
            id_of(&a.post("/v2/jobs", body).await.expect(202), "job")
        }
        Kind::Flow => {
            let (template, args) = match for_verb {
                Verb::Cancel => (&shared.sleep_template, json!(["600"])),
                _ => (&shared.true_template, json!([])),
            };
            let body = with_flags(
                json!({"name": shared.unique("flow"), "jobs": [{"key": "only", "job_template_id": template,
                    "cluster_id": shared.local, "job_configs": {"args": args}}]}),
                flavor,
            );
            let id = id_of(&a.post("/v2/flows", body).await.expect(202), "flow");
            let wanted: &[&str] = if for_verb == Verb::Cancel { &["RUNNING"] } else { &["SUCCEEDED"] };
            eventually(&format!("flow {id} {wanted:?} with its job started"), Duration::from_secs(60), || async {
                let flow = a.get(&format!("/v2/flows/{id}")).await.expect(200)["flow"].clone();
                let started = flow["jobs"][0]["execution_id"].is_string();
                (started && wanted.contains(&flow["status"].as_str().unwrap_or_default())).then_some(())
            })
            .await;
            id
        }
    }
}

/// team-a's job binary `name`.sh holding `script`.
async fn binary(app: &TestApp, name: &str, flavor: Flavor, script: &str) -> String {
    let a = Who::A.caller(app);
    let name = format!("{name}.sh");
    let internal = a
        .send_raw(reqwest::Method::PUT, &format!("/v2/job-binary-internals/{name}"), script.as_bytes().to_vec())
        .await
        .expect(202);
    let url = format!("internal-db://{}", id_of(&internal, "job_binary_internal"));
    let body = with_flags(json!({"name": name, "url": url}), flavor);
    id_of(&a.post("/v2/job-binaries", body).await.expect(202), "job_binary")
}

/// The request for `verb` on the object `id` of this kind.
async fn act(app: &TestApp, shared: &Shared, who: Who, kind: Kind, verb: Verb, api: Api, id: &str) -> edp_tests::Reply {
    let caller = who.caller(app);
    if api == Api::V11 {
        let project = match who {
            Who::B => "team-b",
            Who::Anonymous => "default",
            Who::A | Who::WrongToken | Who::Admin => "team-a",
        };
        let (collection, _) = kind.v11_collection().expect("a v1.1 collection");
        let path = format!("/v1.1/{project}/{collection}/{id}");
        return match verb {
            Verb::List => caller.get(&format!("/v1.1/{project}/{collection}")).await,
            Verb::Get => caller.get(&path).await,
            Verb::Delete => caller.delete(&path).await,
            Verb::Data => caller.get(&format!("{path}/data")).await,
            Verb::Cancel => caller.get(&format!("{path}/cancel")).await,
            other => unreachable!("{other:?} is not checked through v1.1"),
        };
    }
    let path = kind.path(id);
    match verb {
        Verb::List => caller.get(kind.collection().0).await,
        Verb::Get => caller.get(&path).await,
        Verb::Update => {
            let body = match kind {
                Kind::Job => json!({"is_public": true}),
                _ => json!({"description": "changed"}),
            };
            caller.patch(&path, body).await
        }
        Verb::Delete => caller.delete(&path).await,
        Verb::Cancel => caller.patch(&path, json!({"info": {"status": "cancel"}})).await,
        Verb::Suspend => caller.patch(&path, json!({"info": {"status": "suspend"}})).await,
        Verb::Resume => caller.patch(&path, json!({"info": {"status": "resume"}})).await,
        Verb::Logs => caller.get(&format!("{path}/logs")).await,
        Verb::Output => caller.get(&format!("{path}/output")).await,
        Verb::Data => caller.get(&format!("{path}/data")).await,
        Verb::Graph => caller.get(&format!("{path}/graph")).await,
        Verb::Rerun => caller.post(&format!("{path}/rerun"), json!({})).await,
        Verb::Use => {
            let body = match kind {
                Kind::Template => json!({"job_template_id": id, "cluster_id": shared.local}),
                Kind::DataSource => {
                    json!({"job_template_id": shared.true_template, "cluster_id": shared.local, "input_id": id})
                }
                Kind::Cluster => json!({"job_template_id": shared.true_template, "cluster_id": id}),
                other => unreachable!("{other:?}"),
            };
            caller.post("/v2/jobs", body).await
        }
    }
}

/// What a refused change must leave as it was, read by the admin.
async fn state(app: &TestApp, kind: Kind, id: &str) -> Value {
    let admin = Who::Admin.caller(app);
    let reply = admin.get(&kind.path(id)).await;
    let key = match kind {
        Kind::DataSource => "data_source",
        Kind::Internal => "job_binary_internal",
        Kind::Binary => "job_binary",
        Kind::Template => "job_template",
        Kind::Cluster => "cluster",
        Kind::Job => "job",
        Kind::Flow => "flow",
    };
    let object = &reply.body[key];
    match kind {
        // Jobs and flows move by themselves; what a request could change is
        // their flags and whether they are being cancelled.
        Kind::Job => json!({
            "exists": reply.status == 200,
            "is_public": object["is_public"],
            "is_protected": object["is_protected"],
            "cancelled": matches!(object["info"]["status"].as_str(), Some("TOBEKILLED" | "KILLED")),
        }),
        Kind::Flow => json!({
            "exists": reply.status == 200,
            "cancelled": matches!(object["status"].as_str(), Some("KILLED")),
            "is_public": object["is_public"],
        }),
        _ => json!({"status": reply.status, "object": object}),
    }
}

/// Every job's id. (Ids, not a count: a running job an earlier case
/// deleted leaves when its engine confirms the kill, at any moment.)
async fn job_ids(app: &TestApp) -> std::collections::HashSet<String> {
    let jobs = Who::Admin.caller(app).get("/v2/jobs").await.expect(200);
    jobs["jobs"].as_array().into_iter().flatten().filter_map(|j| j["id"].as_str().map(str::to_owned)).collect()
}

/// Runs the whole matrix; returns how many requests it checked.
pub async fn matrix(app: &TestApp) -> usize {
    let a = Who::A.caller(app);
    let mut shared = Shared { local: local_cluster(app).await, ..Shared::default() };
    let main = binary(app, "shared-true", Flavor::Public, "true\n").await;
    let body = json!({"name": "shared-true", "type": "Shell", "mains": [main], "is_public": true});
    shared.true_template = id_of(&a.post("/v2/job-templates", body).await.expect(202), "job_template");
    let main = binary(app, "shared-sleep", Flavor::Private, "sleep \"$1\"\n").await;
    let body = json!({"name": "shared-sleep", "type": "Shell", "mains": [main]});
    shared.sleep_template = id_of(&a.post("/v2/job-templates", body).await.expect(202), "job_template");

    let mut failures = Vec::new();
    let mut checked = 0;
    for kind in Kind::ALL {
        for &flavor in kind.flavors() {
            // Objects only read are shared by every caller.
            let read = create(app, &shared, kind, flavor, Verb::Get).await;
            for (&verb, api) in kind.verbs().iter().flat_map(|v| Api::ALL.map(|api| (v, api))) {
                if !api.has(kind, verb) {
                    continue;
                }
                for who in Who::ALL {
                    let id = if verb.changes() && verb != Verb::Use {
                        create(app, &shared, kind, flavor, verb).await
                    } else {
                        read.clone()
                    };
                    let before = state(app, kind, &id).await;
                    let jobs_before = job_ids(app).await;
                    let reply = act(app, &shared, who, kind, verb, api, &id).await;
                    let wanted = expect(who, kind, flavor, verb, api);
                    checked += 1;
                    let case = format!("{who:?} {verb:?} {flavor:?} {kind:?} via {api:?}");
                    let got = Expect {
                        status: reply.status,
                        error: wanted.error.and_then(|_| {
                            [
                                "UNAUTHORIZED",
                                "NOT_FOUND",
                                "UPDATE_FAILED",
                                "DELETION_FAILED",
                                "CANCELING_FAILED",
                                "INVALID_DATA",
                                "INVALID_REFERENCE",
                                "VALIDATION_ERROR",
                                "FORBIDDEN",
                            ]
                            .into_iter()
                            .find(|n| *n == reply.error_name())
                        }),
                    };
                    if got != wanted {
                        failures.push(format!("{case}: wanted {wanted:?}, got {} {}", reply.status, reply.body));
                        continue;
                    }
                    if wanted.status >= 400 {
                        assert_eq!(reply.body["error_code"], json!(wanted.status), "{case}: {}", reply.body);
                    }
                    if verb == Verb::List && who != Who::WrongToken {
                        let key = match api {
                            Api::V2 => kind.collection().1,
                            Api::V11 => kind.v11_collection().expect("v1.1").1,
                        };
                        let listed =
                            reply.body[key].as_array().is_some_and(|items| items.iter().any(|o| o["id"] == json!(id)));
                        let visible = who.owns() || flavor != Flavor::Private;
                        if listed != visible {
                            failures.push(format!("{case}: listed {listed}, visible {visible}"));
                        }
                    }
                    if verb.changes() && wanted.status >= 400 {
                        let after = state(app, kind, &id).await;
                        if after != before {
                            failures.push(format!("{case}: refused but changed: {before} -> {after}"));
                        }
                        // (Other cases' deletes end jobs meanwhile: only a
                        // refused launch or re-run is checked this way.)
                        if matches!(verb, Verb::Use | Verb::Rerun)
                            && let Some(new) = job_ids(app).await.difference(&jobs_before).next()
                        {
                            failures.push(format!("{case}: refused but job {new} was created"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ from the rules:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[tokio::test]
async fn the_cross_project_matrix_on_sqlite() {
    let app = start(TestApp::builder()).await;
    let checked = matrix(&app).await;
    assert!(checked > 300, "the matrix checked only {checked} cases");
}

/// Who a request acts for: tokens, no token, a project in the URL.
#[tokio::test]
async fn requests_act_for_their_tokens_project_only() {
    let app = start(TestApp::builder()).await;
    let cases: BTreeMap<&str, [(Who, u16); 5]> = BTreeMap::from([
        ("/v2/jobs", [(Who::A, 200), (Who::B, 200), (Who::Anonymous, 200), (Who::WrongToken, 401), (Who::Admin, 200)]),
        (
            "/v2/team-a/jobs",
            [(Who::A, 200), (Who::B, 403), (Who::Anonymous, 403), (Who::WrongToken, 401), (Who::Admin, 200)],
        ),
        (
            "/v1.1/team-b/job-binary-internals",
            [(Who::A, 403), (Who::B, 200), (Who::Anonymous, 403), (Who::WrongToken, 401), (Who::Admin, 200)],
        ),
        (
            "/v2/default/clusters",
            [(Who::A, 403), (Who::B, 403), (Who::Anonymous, 200), (Who::WrongToken, 401), (Who::Admin, 200)],
        ),
    ]);
    for (path, expected) in cases {
        for (who, status) in expected {
            let reply = who.caller(&app).get(path).await;
            assert_eq!(reply.status, status, "{who:?} GET {path}: {}", reply.body);
        }
    }
    // What team-a creates through its URL is team-a's; an admin naming a
    // project acts in it.
    let a = Who::A.caller(&app);
    let ds = a
        .post(
            "/v2/team-a/data-sources",
            json!({"name": "mine", "type": "file", "url": format!("file://{}/x", files_root(&app).display())}),
        )
        .await
        .expect(202);
    assert_eq!(ds["data_source"]["project_id"], "team-a");
    let admin = Who::Admin.caller(&app);
    let ds = admin
        .post(
            "/v2/team-b/data-sources",
            json!({"name": "theirs", "type": "file", "url": format!("file://{}/y", files_root(&app).display())}),
        )
        .await
        .expect(202);
    assert_eq!(ds["data_source"]["project_id"], "team-b");
    // The admin sees every project's objects; team-a only its own.
    let seen = |reply: Value| reply["data_sources"].as_array().map_or(0, Vec::len);
    assert_eq!(seen(admin.get("/v2/data-sources").await.expect(200)), 2);
    assert_eq!(seen(a.get("/v2/data-sources").await.expect(200)), 1);
}

/// The host is the operator's: files under the roots only; `local` for the
/// projects it lists; host clusters registered by admins.
#[tokio::test]
async fn the_host_is_the_operators() {
    let app = start(TestApp::builder()).await;
    let (a, b, anonymous, admin) =
        (Who::A.caller(&app), Who::B.caller(&app), Who::Anonymous.caller(&app), Who::Admin.caller(&app));
    let inside = files_root(&app).join("script.sh");
    std::fs::write(&inside, "echo inside\n").expect("script");
    // A symlink under the root that points out of it is outside.
    std::os::unix::fs::symlink("/etc/passwd", files_root(&app).join("passwd")).expect("symlink");

    for url in ["file:///etc/passwd".to_string(), format!("file://{}/passwd", files_root(&app).display())] {
        let reply = b.post("/v2/job-binaries", json!({"name": "pw", "url": url})).await;
        assert_eq!(reply.status, 403, "{url}: {}", reply.body);
        assert!(
            reply.body["error_message"].as_str().unwrap_or_default().contains("[paths] file_roots"),
            "{}",
            reply.body
        );
    }
    let data_dir = format!("file://{}", app.data_dir().display());
    let reply = b.post("/v2/data-sources", json!({"name": "db", "type": "file", "url": data_dir})).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let ok = b
        .post("/v2/job-binaries", json!({"name": "ok.sh", "url": format!("file://{}", inside.display())}))
        .await
        .expect(202);
    let binary = id_of(&ok, "job_binary");

    // `local` runs processes on the host: team-b may (it is listed), the
    // default project may not, and nobody but an admin registers another.
    let template = id_of(
        &b.post("/v2/job-templates", json!({"name": "t", "type": "Shell", "mains": [binary], "is_public": true}))
            .await
            .expect(202),
        "job_template",
    );
    let local = local_cluster(&app).await;
    let job =
        id_of(&b.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": local})).await.expect(202), "job");
    let done = wait_as(&b, &job, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["info"]["status"], "SUCCEEDED", "{done}");
    let reply = anonymous.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": local})).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(
        reply.body["error_message"].as_str().unwrap_or_default().contains("[clusters.local] projects"),
        "{}",
        reply.body
    );
    let reply = a.post("/v2/clusters", json!({"name": "mine", "plugin_name": "local"})).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    admin.post("/v2/clusters", json!({"name": "ops-local", "plugin_name": "local"})).await.expect(202);
}

/// Launches check every object behind the request, not only the ones named.
#[tokio::test]
async fn launches_check_what_a_template_runs_and_what_is_staged() {
    let app = start(TestApp::builder()).await;
    let (a, b) = (Who::A.caller(&app), Who::B.caller(&app));
    let local = local_cluster(&app).await;
    // team-a's public template runs team-a's private binary.
    let internal = a
        .send_raw(reqwest::Method::PUT, "/v2/job-binary-internals/hidden.sh", b"echo hidden\n".to_vec())
        .await
        .expect(202);
    let internal = id_of(&internal, "job_binary_internal");
    let binary = id_of(
        &a.post("/v2/job-binaries", json!({"name": "hidden.sh", "url": format!("internal-db://{internal}")}))
            .await
            .expect(202),
        "job_binary",
    );
    let template = id_of(
        &a.post("/v2/job-templates", json!({"name": "shared", "type": "Shell", "mains": [binary], "is_public": true}))
            .await
            .expect(202),
        "job_template",
    );
    // team-a runs it, which stages the bytes on disk.
    let job =
        id_of(&a.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": local})).await.expect(202), "job");
    wait_as(&a, &job, TERMINAL, Duration::from_secs(30)).await;
    // team-b may see the template but not run the private binary behind it.
    let reply = b.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": local})).await;
    assert_eq!((reply.status, reply.error_name()), (400, "INVALID_REFERENCE"), "{}", reply.body);
    // Nor can it point a binary of its own at team-a's (already staged) bytes.
    let reply =
        b.post("/v2/job-binaries", json!({"name": "mine.sh", "url": format!("internal-db://{internal}")})).await;
    assert_eq!((reply.status, reply.error_name()), (400, "INVALID_REFERENCE"), "{}", reply.body);
    // Once team-a shares the binary, team-b may run the template.
    a.patch(&format!("/v2/job-binaries/{binary}"), json!({"is_public": true})).await.expect(202);
    b.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": local})).await.expect(202);
}

/// A PATCH applies completely or not at all.
#[tokio::test]
async fn a_refused_patch_writes_nothing() {
    let app = start(TestApp::builder()).await;
    let a = Who::A.caller(&app);
    let local = local_cluster(&app).await;
    let main = binary(&app, "sleeper", Flavor::Private, "sleep 600\n").await;
    let template = id_of(
        &a.post("/v2/job-templates", json!({"name": "s", "type": "Shell", "mains": [main]})).await.expect(202),
        "job_template",
    );
    let job = id_of(
        &a.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": local, "is_public": true}))
            .await
            .expect(202),
        "job",
    );
    let reply = a.patch(&format!("/v2/jobs/{job}"), json!({"is_public": false, "info": {"status": "bogus"}})).await;
    assert_eq!((reply.status, reply.error_name()), (400, "VALIDATION_ERROR"), "{}", reply.body);
    let reply = a.patch(&format!("/v2/jobs/{job}"), json!({"is_public": false, "info": {"status": "suspend"}})).await;
    assert_eq!((reply.status, reply.error_name()), (400, "INVALID_DATA"), "{}", reply.body);
    assert_eq!(a.get(&format!("/v2/jobs/{job}")).await.expect(200)["job"]["is_public"], true);
    a.patch(&format!("/v2/jobs/{job}"), json!({"is_public": false, "info": {"status": "cancel"}})).await.expect(202);
    let job = a.get(&format!("/v2/jobs/{job}")).await.expect(200)["job"].clone();
    assert_eq!(job["is_public"], false, "{job}");
}

/// The operators' endpoints are project-free: `/healthz`, `/readyz` and
/// `/openapi.json` answer anyone, a wrong token included (probes carry
/// none); `/metrics` answers any caller here (`[server] metrics_admin_only`
/// is off) and names no project, object name or token, only engines,
/// statuses and opaque ids; a rescan of the plugin directory needs a
/// known token (or anonymous access), like every API call.
#[tokio::test]
async fn the_operators_endpoints_show_no_projects_data() {
    let app = start(TestApp::builder()).await;
    let local = local_cluster(&app).await;
    let a = Who::A.caller(&app);
    let main = binary(&app, "team-a-secret-binary", Flavor::Private, "true\n").await;
    let body = json!({"name": "team-a-secret-template", "type": "Shell", "mains": [main]});
    let template = id_of(&a.post("/v2/job-templates", body).await.expect(202), "job_template");
    let job =
        id_of(&a.post("/v2/jobs", json!({"job_template_id": template, "cluster_id": local})).await.expect(202), "job");
    wait_as(&a, &job, TERMINAL, Duration::from_secs(60)).await;

    for who in Who::ALL {
        let caller = who.caller(&app);
        for path in ["/healthz", "/readyz", "/openapi.json"] {
            let reply = caller.get(path).await;
            assert_eq!(reply.status, 200, "{who:?} {path}: {}", reply.body);
            assert!(!reply.body.to_string().contains("team-a"), "{who:?} {path}: {}", reply.body);
        }
        let rescan = caller.post("/v2/engines/rescan", json!({})).await;
        let wanted = if who == Who::WrongToken { 401 } else { 200 };
        assert_eq!(rescan.status, wanted, "{who:?} rescan: {}", rescan.body);

        let token = match who {
            Who::A => Some("tok-a"),
            Who::B => Some("tok-b"),
            Who::WrongToken => Some("tok-zzz"),
            Who::Admin => Some("tok-admin"),
            Who::Anonymous => None,
        };
        let mut request = app.http.get(format!("{}/metrics", app.base));
        if let Some(token) = token {
            request = request.header("X-Auth-Token", token);
        }
        let scrape = request.send().await.expect("GET /metrics");
        assert_eq!(scrape.status(), 200, "{who:?} /metrics");
        let text = scrape.text().await.expect("text");
        // The job is counted (by its cluster's id), its names and project are not.
        assert!(text.contains(&format!("cluster_id=\"{local}\"")), "{who:?}: {text}");
        for private in ["team-a", "team-b", "secret", "tok-", &template, &job, &main] {
            assert!(!text.contains(private), "{who:?}: '{private}' in /metrics:\n{text}");
        }
    }
}
