//! Claims on executions, shared by every edpd on the database.
//!
//! A node works on an execution only while it holds the row's lease: the
//! owner (`lease_owner`, the node id), the claim (`lease_token`, one per
//! claiming statement) and an expiry. A claim is one conditional `UPDATE …
//! RETURNING` ([`claim_due`], [`claim_one`]; on an SQLite file it returns
//! the ids, and the rows are read by id: [`ClaimOn`]): a row is claimable when it is
//! due, its lease is free or expired, and this node may work on it. On
//! Postgres the candidates are picked `FOR UPDATE SKIP LOCKED` and the lease
//! condition is repeated in the outer statement, which Postgres re-checks
//! against a row another node updated meanwhile: two nodes never both take
//! one row. Every write a task makes is conditional on its token (and the
//! status it read), and clears the lease ([`rows::settle`]): a node whose
//! lease expired (it hung, it died) can no longer write, and a dead node's
//! leases are taken over once they expire. One step works without a lease:
//! the poll of a row an engine hinted at, whose engine call only reads and
//! whose one write is conditional on the lease being [`free`]
//! (`rows::settle_unclaimed`).
//!
//! Host-bound rows (jobs running as processes on an edpd host) belong to
//! one node: only it claims them. A host-bound launch is claimed by any
//! node with the engine, and the claim makes that node the owner
//! (`node_id`) before the engine is called, so that an interrupted launch
//! is resumed where the job may already run.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};

use crate::Edp;
use crate::db::Commit;
use crate::entity::job_execution::{self, Column as C, Model};
use crate::error::Result;
use crate::status::Status;
use crate::time;

/// This node's claim on one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lease {
    pub id: String,
    pub token: String,
}

/// A row and the lease this node holds on it.
pub(crate) struct Claimed {
    pub row: Model,
    pub lease: Lease,
}

/// What a claim is for: the scheduler takes cancels and launches apart from
/// polls, so that a backlog of polls never holds them up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// TOBEKILLED rows.
    Cancels,
    /// PENDING rows (a cluster with a job limit claims them through
    /// `slots`).
    Launches,
    /// Launched, unfinished rows, and finished ones waiting to be deleted.
    Polls,
}

/// A status written into the statement, not bound: Postgres plans a
/// prepared statement once for all its values (a generic plan), and only a
/// literal tells it which statuses, and so which range of an index, it
/// reads. With the polls' seven statuses bound, it walked every due row in
/// `next_action_at` order, the waiting launches included: 27 ms a claim
/// behind 20,000 of them, against 0.25 ms with literals. (Statuses are our
/// own constants, never a user's input.)
pub(crate) fn literal(status: Status) -> Expr {
    Expr::Constant(status.as_str().into())
}

/// `status` is one of `statuses` (as [`literal`]s).
pub(crate) fn status_in(statuses: impl IntoIterator<Item = Status>) -> Expr {
    Expr::col(C::Status).is_in(statuses.into_iter().map(literal))
}

impl Work {
    /// The statuses of this work's rows. Each kind of work is a range of
    /// `(cluster_id, status, next_action_at, id)` (or a few, for polls),
    /// read in claiming order: a claim reads about as many rows as it
    /// takes, however many launches wait behind a job limit.
    fn condition(self) -> Condition {
        let polled = Status::ALL.into_iter().filter(|s| !matches!(s, Status::Pending | Status::ToBeKilled));
        match self {
            Self::Cancels => Condition::all().add(status_in([Status::ToBeKilled])),
            Self::Launches => Condition::all().add(status_in([Status::Pending])),
            Self::Polls => Condition::all().add(status_in(polled)),
        }
    }
}

/// A lease nobody holds now.
pub(crate) fn free(now: DateTime<Utc>) -> Condition {
    Condition::any().add(C::LeaseOwner.is_null()).add(C::LeaseExpiresAt.lt(now))
}

/// [`free`], read from a row in hand.
pub(crate) fn is_free(row: &Model, now: DateTime<Utc>) -> bool {
    row.lease_owner.is_none() || row.lease_expires_at.is_some_and(|expires| expires < now)
}

/// Rows this node may work on: remote ones, its own host-bound ones, and
/// host-bound launches nobody has begun.
fn mine(node: &str) -> Condition {
    Condition::any()
        .add(C::HostBound.eq(false))
        .add(C::NodeId.eq(node))
        .add(Condition::all().add(C::NodeId.is_null()).add(status_in([Status::Pending])))
}

/// Rows a pass should look at now.
pub(crate) fn due(node: &str, now: DateTime<Utc>) -> Condition {
    Condition::all().add(C::NextActionAt.lte(now)).add(free(now)).add(mine(node))
}

/// Whether a read or claim of at most `asked` rows that got `got` may have
/// left some behind: it got all it asked for (none, when it asked for
/// none, as with no slot free).
pub(crate) fn took_all(got: usize, asked: u64) -> bool {
    got as u64 == asked
}

/// Claims up to `limit` due rows of one cluster's `work`, oldest due first.
pub(crate) async fn claim_due(edp: &Edp, cluster_id: &str, work: Work, limit: u64) -> Result<Vec<Claimed>> {
    claim_due_on(&edp.db_for(Commit::Flushed), edp, cluster_id, work, limit).await
}

/// Claims up to `limit` due cancels and launches of one cluster, cancels
/// first. Two statements, each reading one range of the index in order:
/// one statement ordering both would sort every launch that waits.
pub(crate) async fn claim_cancels_then_launches(edp: &Edp, cluster_id: &str, limit: u64) -> Result<Vec<Claimed>> {
    let mut claimed = claim_due(edp, cluster_id, Work::Cancels, limit).await?;
    let room = limit.saturating_sub(claimed.len() as u64);
    claimed.extend(claim_due(edp, cluster_id, Work::Launches, room).await?);
    Ok(claimed)
}

/// [`claim_due`] within a transaction of the caller's (`slots`).
pub(crate) async fn claim_due_on(
    db: &impl ClaimOn,
    edp: &Edp,
    cluster_id: &str,
    work: Work,
    limit: u64,
) -> Result<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let now = time::now();
    let mut candidates = queue(cluster_id, work, &edp.settings().node_id, now).limit(limit).into_query();
    if db.get_database_backend() == DatabaseBackend::Postgres {
        candidates.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    take(db, edp, Condition::all().add(C::Id.in_subquery(candidates)), now).await
}

/// The ids of a cluster's due rows of one kind of work, in the order they
/// are claimed: oldest due first. For a launch that is its submission,
/// unless an attempt failed or its claim lapsed: then it comes when it is
/// due again, as a retry does. (Each kind is a range, or a few, of
/// `(cluster_id, status, next_action_at, id)`: the claim reads the rows it
/// takes, whatever waits behind them.)
pub(crate) fn queue(
    cluster_id: &str,
    work: Work,
    node: &str,
    now: DateTime<Utc>,
) -> sea_orm::Select<job_execution::Entity> {
    job_execution::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::ClusterId.eq(cluster_id))
        .filter(work.condition())
        .filter(due(node, now))
        .order_by_asc(C::NextActionAt)
        .order_by_asc(C::Id)
}

/// Claims these launches, if they are still due and free (`slots` chose
/// them within the limits).
pub(crate) async fn claim_ids_on(db: &impl ClaimOn, edp: &Edp, ids: Vec<String>) -> Result<Vec<Claimed>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let now = time::now();
    let which =
        Condition::all().add(C::Id.is_in(ids)).add(due(&edp.settings().node_id, now)).add(Work::Launches.condition());
    take(db, edp, which, now).await
}

/// Claims one row now, due or not (an engine's hint, a refresh, a suspend),
/// if its lease is free and this node may work on it. Never a launch: those
/// are claimed through [`claim_due`] only, where a cluster's job limit
/// holds.
pub(crate) async fn claim_one(edp: &Edp, id: &str) -> Result<Option<Claimed>> {
    let now = time::now();
    let node = edp.settings().node_id.as_str();
    let launched = Condition::any().add(C::Status.ne(Status::Pending.as_str())).add(C::EngineJobId.is_not_null());
    // Unflushed, as every lease on a launched row (the releases below): a
    // lease a crash of the database loses was only ever a promise to look.
    let which = Condition::all().add(C::Id.eq(id)).add(mine(node)).add(launched);
    let claimed = take(&edp.db_for(Commit::Unflushed), edp, which, now).await?;
    Ok(claimed.into_iter().next())
}

/// Whether [`claim_one`] would take `row` once its lease is free: the
/// same conditions, read from a row in hand (the scheduler keeps a hint
/// for such a row until it can claim it).
pub(crate) fn claimable_by_hint(row: &Model, node: &str) -> bool {
    let pending = row.status == Status::Pending.as_str();
    let mine = !row.host_bound || row.node_id.as_deref() == Some(node) || (row.node_id.is_none() && pending);
    let launched = !pending || row.engine_job_id.is_some();
    mine && launched
}

/// The claim [`take`] would make, written into a PENDING row this node is
/// about to insert (`scheduler::launch_at_once`): the same lease, owner and
/// `submitted` mark, so the row is, from its first commit, a launch this
/// node has claimed. Should the node die before it finishes, the lease
/// expires and the launch is resumed like any other claimed one.
pub(crate) fn claim_new(edp: &Edp, row: &mut job_execution::ActiveModel) -> Lease {
    use sea_orm::Set;
    let node = edp.settings().node_id.clone();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let expires = edp.settings().lease_expires(time::now());
    if row.host_bound.try_as_ref() == Some(&true) {
        row.node_id = Set(Some(node.clone()));
    }
    row.lease_owner = Set(Some(node));
    row.lease_token = Set(Some(token.clone()));
    row.lease_expires_at = Set(Some(expires));
    row.next_action_at = Set(Some(expires));
    row.submitted = Set(true);
    Lease { id: row.id.try_as_ref().cloned().unwrap_or_default(), token }
}

/// The claiming statement: the lease, the owner of a host-bound launch, the
/// mark that a launch may reach the engine, and `next_action_at` at the
/// lease's expiry (so a claim its node never finishes comes due again
/// exactly when another node may take it).
async fn take(db: &impl ClaimOn, edp: &Edp, which: Condition, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
    let node = edp.settings().node_id.clone();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let expires = edp.settings().lease_expires(now);
    let owner = Expr::case(Condition::all().add(C::HostBound.eq(true)).add(C::NodeId.is_null()), node.clone())
        .finally(Expr::col(C::NodeId));
    let submitted =
        Expr::case(C::Status.eq(Status::Pending.as_str()), Expr::val(true)).finally(Expr::col(C::Submitted));
    let update = job_execution::Entity::update_many()
        .col_expr(C::LeaseOwner, Expr::val(node))
        .col_expr(C::LeaseToken, Expr::val(token.clone()))
        .col_expr(C::LeaseExpiresAt, Expr::val(expires))
        .col_expr(C::NextActionAt, Expr::val(expires))
        .col_expr(C::NodeId, owner.into())
        .col_expr(C::Submitted, submitted.into())
        .filter(which)
        // Re-checked against a row another node changed meanwhile.
        .filter(free(now));
    let rows = db.claim(edp, update).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let lease = Lease { id: row.id.clone(), token: token.clone() };
            Claimed { row, lease }
        })
        .collect())
}

/// Where a claim's `UPDATE … RETURNING` runs: a transaction of the caller's,
/// or `Edp::db_for`'s connection, which on an SQLite file is
/// `sqlite_writes`' thread (sea-orm's rows can only be built by its sqlx
/// drivers, so there the claim returns the ids it took, and the rows are
/// read by id once it is committed: the rows as they are then, which a
/// step acts on as on any row it holds the lease of).
pub(crate) trait ClaimOn: ConnectionTrait + Sync {
    fn claim(
        &self,
        edp: &Edp,
        update: sea_orm::UpdateMany<job_execution::Entity>,
    ) -> impl Future<Output = Result<Vec<Model>>> + Send;
}

impl ClaimOn for sea_orm::DatabaseTransaction {
    async fn claim(&self, _: &Edp, update: sea_orm::UpdateMany<job_execution::Entity>) -> Result<Vec<Model>> {
        Ok(update.exec_with_returning(self).await?)
    }
}

impl ClaimOn for crate::db::Conn<'_> {
    async fn claim(&self, edp: &Edp, update: sea_orm::UpdateMany<job_execution::Entity>) -> Result<Vec<Model>> {
        let crate::db::Conn::SqliteWrites(writes, _) = self else {
            return Ok(update.exec_with_returning(self).await?);
        };
        let mut update = update.into_query();
        update.returning_col(C::Id);
        let ids = writes.execute(DatabaseBackend::Sqlite.build(&update)).await?.returned;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // In the order the claim returned them, as `RETURNING` gives rows
        // elsewhere (for a queue's head, SQLite takes it in the queue's order).
        let order: std::collections::HashMap<&str, usize> =
            ids.iter().enumerate().map(|(at, id)| (id.as_str(), at)).collect();
        let select = job_execution::Entity::find().filter(C::Id.is_in(ids.iter().map(String::as_str)));
        let mut rows =
            crate::paging::Rows::all(&crate::reads::Executions(edp, crate::reads::Extra::Whole), select).await?;
        rows.sort_by_key(|row| order.get(row.id.as_str()).copied());
        Ok(rows)
    }
}

/// The clusters with rows due for this node, each with the time its
/// oldest due row came due (the scheduler's lag).
///
/// Never a walk over the due rows: under a backlog (thousands of launches
/// waiting for slots) a `GROUP BY` over them cost each pass time in
/// proportion to the backlog (0.6 ms a pass at 3,000 on SQLite, and most
/// passes under such a load look at a cluster or two). Instead the clusters
/// with any row to do are found one index seek each (a recursive "loose
/// index scan" over `(cluster_id, status, next_action_at, id)`, the partial
/// index of rows that have something to do), and each one's oldest due row
/// is the oldest of the first this node may take in each status's range:
/// a seek per status, as many whatever the backlog.
pub(crate) async fn due_clusters(edp: &Edp) -> Result<Vec<(String, DateTime<Utc>)>> {
    let query = due_clusters_query(&edp.settings().node_id, time::now());
    let rows: Vec<DueCluster> = crate::reads::query_as::<job_execution::Entity, _>(edp, &query).await?;
    Ok(rows.into_iter().filter_map(|row| Some((row.cluster_id, row.next_action_at?))).collect())
}

/// A row of [`due_clusters_query`]: a cluster and its oldest due time,
/// named as the columns they come from, so that they are read as those.
#[derive(serde::Deserialize, sea_orm::FromQueryResult)]
struct DueCluster {
    cluster_id: String,
    next_action_at: Option<DateTime<Utc>>,
}

/// [`due_clusters`]' statement: the clusters with a row due for `node` at
/// `now`, each with its oldest due time (`cluster_id`, `next_action_at`).
fn due_clusters_query(node: &str, now: DateTime<Utc>) -> sea_orm::sea_query::WithQuery {
    use sea_orm::sea_query::{Alias, CommonTableExpression, Query, SelectStatement, UnionType, WithClause};
    let (jobs, walk, cluster) = (job_execution::Entity, Alias::new("due_walk"), Alias::new("cluster"));
    let cluster_id = || Expr::col((jobs, C::ClusterId));
    let walked = || Expr::col((walk.clone(), cluster.clone()));
    let first_cluster = |after: Option<Expr>| -> SelectStatement {
        let mut first = Query::select();
        first.expr(cluster_id().min()).from(jobs).and_where(Expr::col((jobs, C::NextActionAt)).is_not_null());
        if let Some(after) = after {
            first.and_where(cluster_id().gt(after));
        }
        first
    };
    let mut clusters = first_cluster(None);
    clusters.union(
        UnionType::All,
        Query::select()
            .expr(Expr::SubQuery(None, Box::new(first_cluster(Some(walked())).into())))
            .from(walk.clone())
            .and_where(walked().is_not_null())
            .to_owned(),
    );
    let (oldest_in_status, per_status) = (Alias::new("oldest_in_status"), Alias::new("per_status"));
    let oldest_of = |status: Status| -> SelectStatement {
        let oldest = Query::select()
            .expr(Expr::col((jobs, C::NextActionAt)).min())
            .from(jobs)
            .and_where(cluster_id().eq(walked()))
            .and_where(Expr::col((jobs, C::Status)).eq(literal(status)))
            .cond_where(due(node, now))
            .to_owned();
        Query::select().expr_as(Expr::SubQuery(None, Box::new(oldest.into())), oldest_in_status.clone()).to_owned()
    };
    let mut statuses = Status::ALL.into_iter();
    let mut each = oldest_of(statuses.next().expect("statuses"));
    for status in statuses {
        each.union(UnionType::All, oldest_of(status));
    }
    let oldest =
        Query::select().expr(Expr::col(oldest_in_status.clone()).min()).from_subquery(each, per_status).to_owned();
    let select = Query::select()
        .expr_as(walked(), C::ClusterId)
        .expr_as(Expr::SubQuery(None, Box::new(oldest.into())), C::NextActionAt)
        .from(walk.clone())
        .and_where(walked().is_not_null())
        .to_owned();
    let cte = CommonTableExpression::new().query(clusters).column(cluster.clone()).table_name(walk).to_owned();
    WithClause::new().recursive(true).cte(cte).to_owned().query(select)
}

/// When the next row this node could claim comes due, if any.
pub(crate) async fn next_due(edp: &Edp) -> Result<Option<DateTime<Utc>>> {
    let now = time::now();
    // Named as the column, so that it is read as one. (`first_as`, not
    // `one`: SQLite planned that again at each execution, 118 µs against
    // 25 µs.)
    let next = job_execution::Entity::find()
        .select_only()
        .column_as(Expr::col(C::NextActionAt).min(), C::NextActionAt)
        .filter(C::NextActionAt.gt(now))
        .filter(free(now))
        .filter(mine(&edp.settings().node_id));
    let next: Option<NextDue> = crate::reads::first_as(edp, next).await?;
    Ok(next.and_then(|row| row.next_action_at))
}

#[derive(serde::Deserialize, sea_orm::FromQueryResult)]
struct NextDue {
    next_action_at: Option<DateTime<Utc>>,
}

/// At start: leases held under this node's id belong to a previous run of
/// it (a node id is one process at a time), so they are let go; host-bound
/// rows that predate node ids are adopted; and every unfinished row this
/// node may work on is made due, which is how running jobs are re-attached
/// and interrupted launches resumed.
pub(crate) async fn recover(edp: &Edp) -> Result<()> {
    let node = edp.settings().node_id.clone();
    let now = time::now();
    unleased().filter(C::LeaseOwner.eq(node.clone())).exec(edp.db()).await?;
    // Flows it was advancing, likewise.
    crate::entity::flow::Entity::update_many()
        .col_expr(crate::entity::flow::Column::LeaseOwner, Expr::val(Option::<String>::None))
        .col_expr(crate::entity::flow::Column::LeaseExpiresAt, Expr::val(Option::<DateTime<Utc>>::None))
        .filter(crate::entity::flow::Column::LeaseOwner.eq(node.clone()))
        .exec(edp.db())
        .await?;
    job_execution::Entity::update_many()
        .col_expr(C::NodeId, Expr::val(node.clone()))
        .filter(C::HostBound.eq(true))
        .filter(C::NodeId.is_null())
        .filter(C::Status.ne(Status::Pending.as_str()))
        .filter(C::NextActionAt.is_not_null())
        .exec(edp.db())
        .await?;
    // Rows already due keep their time: it is their place in the queue.
    job_execution::Entity::update_many()
        .col_expr(C::NextActionAt, Expr::val(now))
        .filter(C::NextActionAt.gt(now))
        .filter(free(now))
        .filter(mine(&node))
        .exec(edp.db())
        .await?;
    Ok(())
}

/// Releases, in one statement each, leases whose poll found nothing new:
/// the row keeps what it had and comes due again at `next`. A row whose
/// status changed meanwhile (a cancel) keeps its own `next_action_at`.
pub(crate) async fn release_unchanged(edp: &Edp, batch: Vec<(Lease, Status, DateTime<Utc>)>) -> Result<()> {
    // One statement per (token, status, next): a pass's polls share a token
    // and, mostly, a backoff step.
    let mut groups: std::collections::BTreeMap<(String, &'static str, DateTime<Utc>), Vec<String>> = Default::default();
    for (lease, status, next) in batch {
        groups.entry((lease.token, status.as_str(), next)).or_default().push(lease.id);
    }
    for ((token, status, next), ids) in groups {
        let next_at = Expr::case(C::Status.eq(status), Expr::val(next)).finally(Expr::col(C::NextActionAt));
        let update = unleased()
            .col_expr(C::NextActionAt, next_at.into())
            .filter(C::Id.is_in(ids))
            .filter(C::LeaseToken.eq(token));
        edp.db_for(Commit::Unflushed).update(update).await?;
    }
    Ok(())
}

/// An update of executions that clears their lease.
fn unleased() -> sea_orm::UpdateMany<job_execution::Entity> {
    job_execution::Entity::update_many()
        .col_expr(C::LeaseOwner, Expr::val(Option::<String>::None))
        .col_expr(C::LeaseToken, Expr::val(Option::<String>::None))
        .col_expr(C::LeaseExpiresAt, Expr::val(Option::<DateTime<Utc>>::None))
}

/// A lease given back after its step failed with an error, the row due
/// again `after` from now (a no-op if the lease was already given back).
pub(crate) async fn release_for_retry(edp: &Edp, lease: &Lease, after: std::time::Duration) -> Result<()> {
    let due = time::now() + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::seconds(5));
    let update = unleased()
        .col_expr(C::NextActionAt, Expr::val(due))
        .filter(C::Id.eq(lease.id.clone()))
        .filter(C::LeaseToken.eq(lease.token.clone()));
    edp.db_for(Commit::Unflushed).update(update).await?;
    Ok(())
}

/// A lease given back with nothing else changed: the row changed under the
/// task (a cancel, a delete), and whoever changed it set when it is due.
pub(crate) async fn release(edp: &Edp, lease: &Lease) -> Result<()> {
    let update = unleased().filter(C::Id.eq(lease.id.clone())).filter(C::LeaseToken.eq(lease.token.clone()));
    edp.db_for(Commit::Unflushed).update(update).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    use serde_json::json;

    use super::*;

    /// A row with the columns `claim_one` and `claimable_by_hint` look at.
    async fn insert(
        edp: &Edp,
        n: usize,
        host_bound: bool,
        node: Option<&str>,
        status: Status,
        engine_job: Option<&str>,
    ) -> Model {
        let now = time::now();
        let row = Model {
            id: format!("job-{n}"),
            project_id: "p".into(),
            job_template_id: "t".into(),
            cluster_id: "c".into(),
            input_id: None,
            output_id: None,
            engine: "e".into(),
            status: status.as_str().into(),
            info: json!({"status": status.as_str()}),
            engine_job_id: engine_job.map(Into::into),
            return_code: None,
            job_configs: json!({}),
            interface: json!([]),
            data_source_urls: json!({}),
            extra: json!({}),
            is_public: false,
            is_protected: false,
            start_time: None,
            end_time: None,
            next_action_at: Some(now),
            attempts: 0,
            cancel_deadline: None,
            delete_requested: false,
            flow_id: None,
            lease_owner: None,
            lease_token: None,
            lease_expires_at: None,
            node_id: node.map(Into::into),
            host_bound,
            submitted: engine_job.is_some(),
            created_at: now,
            updated_at: now,
        };
        row.into_active_model().insert(edp.db()).await.expect("insert")
    }

    /// Each kind of work is read from its range of `(cluster_id, status,
    /// next_action_at, id)`: cancels and launches in claiming order, so a
    /// claim reads the rows it takes. (SQLite keeps no statistics: it chose
    /// the cluster's due rows, every status mixed, and sorted them, 11 ms a
    /// claim behind 20,000 waiting launches; BENCHMARKS.md.) Polls sort the
    /// due polls only, and the clusters with due rows are found one seek a
    /// cluster and status.
    #[tokio::test]
    async fn claims_read_their_own_range_of_the_queue_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("edp.sqlite").display());
        let db = crate::db::connect(&url).await.unwrap();
        let range = "USING INDEX idx_job_executions_due_by_status (cluster_id=? AND status=? AND next_action_at<?)";
        for work in [Work::Cancels, Work::Launches] {
            let plan = crate::db::sqlite_plan(&db, &queue("c", work, "n1", time::now()).limit(5).into_query()).await;
            assert!(plan.contains(range) && !plan.contains("TEMP B-TREE"), "{work:?}:\n{plan}");
        }
        let plan = crate::db::sqlite_plan(&db, &queue("c", Work::Polls, "n1", time::now()).limit(5).into_query()).await;
        assert!(plan.contains(range), "polls:\n{plan}");
        let plan = crate::db::sqlite_plan(&db, &due_clusters_query("n1", time::now())).await;
        let reads: Vec<&str> = plan.lines().filter(|step| step.contains("job_executions")).collect();
        assert!(
            reads.iter().all(|step| step.starts_with("SEARCH job_executions USING")
                && step.contains("INDEX idx_job_executions_due_by_status")),
            "the due clusters:\n{plan}"
        );
    }

    /// `claimable_by_hint` restates in Rust what `claim_one` asks in SQL
    /// (`mine`, and launched): for every combination of the columns they
    /// read, one says yes exactly when the other claims the row.
    #[tokio::test]
    async fn claimable_by_hint_agrees_with_claim_one() {
        let dir = tempfile::tempdir().unwrap();
        let edp = node_with_a_template(dir.path()).await;
        let (mut n, mut claimed_some) = (0, 0);
        for host_bound in [false, true] {
            for node in [None, Some("n1"), Some("n2")] {
                for status in [Status::Pending, Status::Running, Status::Succeeded] {
                    for engine_job in [None, Some("engine-1")] {
                        n += 1;
                        let row = insert(&edp, n, host_bound, node, status, engine_job).await;
                        let claimed = claim_one(&edp, &row.id).await.unwrap().is_some();
                        claimed_some += usize::from(claimed);
                        assert_eq!(claimable_by_hint(&row, "n1"), claimed, "{row:?}");
                    }
                }
            }
        }
        assert!(0 < claimed_some && claimed_some < n, "the cases span both answers ({claimed_some} of {n})");
    }

    /// `is_free` restates in Rust what `free` asks in SQL (and what every
    /// claim and `rows::settle_unclaimed` write on): for every lease a row
    /// can hold, one says free exactly when the other finds the row.
    #[tokio::test]
    async fn is_free_agrees_with_free() {
        let dir = tempfile::tempdir().unwrap();
        let edp = node_with_a_template(dir.path()).await;
        let now = time::now();
        let second = chrono::Duration::seconds(1);
        let mut free_ones = 0;
        for (n, owner) in [None, Some("n1")].into_iter().enumerate() {
            for (m, expires) in [None, Some(now - second), Some(now), Some(now + second)].into_iter().enumerate() {
                let id = insert(&edp, 10 * n + m, false, None, Status::Running, Some("engine-1")).await.id;
                job_execution::Entity::update_many()
                    .col_expr(C::LeaseOwner, Expr::val(owner))
                    .col_expr(C::LeaseExpiresAt, Expr::val(expires))
                    .filter(C::Id.eq(id.clone()))
                    .exec(edp.db())
                    .await
                    .expect("lease");
                let row = job_execution::Entity::find_by_id(id.clone()).one(edp.db()).await.unwrap().expect("row");
                let found = job_execution::Entity::find().filter(C::Id.eq(id)).filter(free(now)).one(edp.db());
                let found = found.await.unwrap().is_some();
                free_ones += usize::from(found);
                assert_eq!(is_free(&row, now), found, "{owner:?} until {expires:?}, now {now:?}");
            }
        }
        assert!(0 < free_ones && free_ones < 8, "the cases span both answers ({free_ones} of 8)");
    }

    /// A claim on an SQLite file runs on the writes' thread and reads the
    /// rows it took by id: it gives what sea-orm's `RETURNING` would, the
    /// rows as claimed, oldest due first, and only those.
    #[tokio::test]
    async fn claims_on_an_sqlite_file_give_the_rows_they_took_in_queue_order() {
        let dir = tempfile::tempdir().unwrap();
        let edp = node_with_a_template(dir.path()).await;
        assert!(matches!(edp.db_for(Commit::Flushed), crate::db::Conn::SqliteWrites(..)), "the writes' thread");
        let mut ids = Vec::new();
        for n in [3, 1, 2] {
            let row = insert(&edp, n, false, None, Status::Pending, None).await;
            // Due in the order 3, 1, 2, whatever the ids' order.
            let due = row.created_at
                - chrono::Duration::seconds(match n {
                    3 => 30,
                    1 => 20,
                    _ => 10,
                });
            let due = job_execution::Entity::update_many().col_expr(C::NextActionAt, Expr::val(due));
            due.filter(C::Id.eq(row.id.clone())).exec(edp.db()).await.expect("due");
            ids.push(row.id);
        }
        let claimed = claim_due(&edp, "c", Work::Launches, 2).await.unwrap();
        let claimed_ids: Vec<&str> = claimed.iter().map(|c| c.row.id.as_str()).collect();
        assert_eq!(claimed_ids, ["job-3", "job-1"], "oldest due first, two of three");
        for Claimed { row, lease } in &claimed {
            let stored = job_execution::Entity::find_by_id(row.id.clone()).one(edp.db()).await.unwrap().unwrap();
            assert_eq!(*row, stored, "the row as the claim left it");
            assert_eq!(row.lease_token.as_deref(), Some(lease.token.as_str()));
            assert_eq!(row.lease_owner.as_deref(), Some("n1"));
            assert!(row.submitted, "a claimed launch is marked submitted");
        }
        let rest = claim_due(&edp, "c", Work::Launches, 5).await.unwrap();
        assert_eq!(rest.iter().map(|c| c.row.id.as_str()).collect::<Vec<_>>(), ["job-2"]);
        assert!(claim_due(&edp, "c", Work::Launches, 5).await.unwrap().is_empty(), "none is taken twice");
    }

    /// A pass's reads on an SQLite file (rusqlite, on the calling thread)
    /// give what sea-orm gives through sqlx: the clusters with due rows
    /// with their oldest due times, and when the next row comes due.
    #[tokio::test]
    async fn a_passs_reads_on_an_sqlite_file_are_what_sea_orm_reads() {
        let dir = tempfile::tempdir().unwrap();
        let edp = node_with_a_template(dir.path()).await;
        assert!(matches!(edp.reads(), crate::reads::Reads::SqliteFile(_)), "reads on the file");
        assert_eq!(due_clusters(&edp).await.unwrap(), []);
        assert_eq!(next_due(&edp).await.unwrap(), None);

        let now = time::now();
        let at = |ms: i64| now + chrono::Duration::milliseconds(ms) + chrono::Duration::microseconds(7);
        for (n, cluster, due_in_ms) in [(1, "c", -30_123), (2, "c", -10_000), (3, "d", -5_500), (4, "d", 60_250)] {
            let row = insert(&edp, n, false, None, Status::Pending, None).await;
            let moved = job_execution::Entity::update_many()
                .col_expr(C::ClusterId, Expr::val(cluster))
                .col_expr(C::NextActionAt, Expr::val(at(due_in_ms)));
            moved.filter(C::Id.eq(row.id)).exec(edp.db()).await.expect("due");
        }
        let by_sqlx: Vec<(String, DateTime<Utc>)> = {
            let rows = edp.db().query_all(&due_clusters_query("n1", time::now())).await.unwrap();
            let read = |row: &sea_orm::QueryResult| -> (String, Option<DateTime<Utc>>) {
                (row.try_get("", "cluster_id").unwrap(), row.try_get("", "next_action_at").unwrap())
            };
            rows.iter().map(read).filter_map(|(cluster, oldest)| Some((cluster, oldest?))).collect()
        };
        let due = due_clusters(&edp).await.unwrap();
        assert_eq!(due, by_sqlx);
        assert_eq!(due, [("c".to_string(), at(-30_123)), ("d".to_string(), at(-5_500))]);
        assert_eq!(next_due(&edp).await.unwrap(), Some(at(60_250)));
    }

    /// A node `n1` on an SQLite file in `dir`, with the template `t` its
    /// rows name.
    async fn node_with_a_template(dir: &std::path::Path) -> Edp {
        let url = format!("sqlite://{}?mode=rwc", dir.join("edp.sqlite").display());
        let db = crate::db::connect(&url).await.unwrap();
        let (hints, _unused) = tokio::sync::mpsc::unbounded_channel();
        let settings =
            crate::Settings { data_dir: dir.join("data"), node_id: "n1".into(), ..crate::Settings::default() };
        let edp = Edp::new(db, crate::Engines::fixed(vec![]), settings, hints);
        let now = time::now();
        let template = crate::entity::job_template::Model {
            id: "t".into(),
            project_id: "p".into(),
            name: "t".into(),
            description: String::new(),
            kind: "Shell".into(),
            interface: json!([]),
            is_public: false,
            is_protected: false,
            created_at: now,
            updated_at: now,
        };
        template.into_active_model().insert(edp.db()).await.expect("template");
        edp
    }
}
