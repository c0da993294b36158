//! What edpd tells its operator: log lines on stderr (text, or one JSON
//! object a line for log shippers), filtered by `RUST_LOG` or `[log] level`;
//! and the Prometheus recorder behind `/metrics`, fed through the `metrics`
//! facade by core (`edp_core::observe`) and the engine host (call latency).

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{Log, LogFormat};

/// Installs the log subscriber. `RUST_LOG`, when set, wins over `[log] level`.
pub fn init(log: &Log) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::try_new(&log.level).unwrap_or_else(|e| {
            eprintln!("[log] level '{}' is not a filter ({e}); using info", log.level);
            EnvFilter::new(DEFAULT_LEVEL)
        })
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = match log.format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        // One object a line: `timestamp`, `level`, `fields.message`, the
        // event's fields, and the spans it happened in.
        LogFormat::Json => builder.json().with_current_span(false).with_span_list(true).try_init(),
    };
}

/// What `[log] level` says by default: every lifecycle event, none of the
/// database driver's statements.
pub const DEFAULT_LEVEL: &str = "info,sqlx=warn,sea_orm=warn";

/// Engine call latency buckets, in seconds: a local call takes
/// microseconds, a remote one (Oozie, a Spark master) up to the timeout.
const CALL_BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0];

/// Scheduler lag buckets, in seconds: a pass wakes for due work within
/// milliseconds; seconds mean full slots or a slow database.
const LAG_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The process's Prometheus recorder, installed on first use as the
/// `metrics` facade's global recorder (one per process, whatever number of
/// applications a test builds in it).
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(edp_core::observe::names::ENGINE_CALL.to_string()), &CALL_BUCKETS)
                .expect("the buckets are not empty")
                .set_buckets_for_metric(
                    Matcher::Full(edp_core::observe::names::SCHEDULER_LAG.to_string()),
                    &LAG_BUCKETS,
                )
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics will show nothing");
            }
            describe();
            handle
        })
        .clone()
}

/// The HELP lines of what edpd exports.
fn describe() {
    use edp_core::observe::names::*;
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(LAUNCHES, "Jobs an engine accepted (run_job answered), by engine.");
    describe_counter!(FAILURES, "Jobs that ended FAILED, by engine.");
    describe_counter!(CANCELS, "Cancels asked for (the job became TOBEKILLED), by engine.");
    describe_counter!(RETRIES, "Launches that failed transiently and will be tried again, by engine.");
    describe_counter!(JOB_RETRIES, "Failed attempts followed by another (edp.job.max_attempts), by engine.");
    describe_counter!(ENDED, "Jobs that reached a final status, by engine and status.");
    describe_counter!(CLUSTER_CHECKS, "Cluster registrations and checks, by engine and outcome (Active, Error).");
    describe_gauge!(JOBS, "Job executions in the database, by engine, cluster id and status (read at scrape).");
    describe_gauge!(CLUSTERS, "Clusters in the database, by engine and status (read at scrape).");
    describe_histogram!(
        SCHEDULER_LAG,
        Unit::Seconds,
        "How late this edpd's scheduler picked up due work: per pass and cluster it claimed work for, how long \
         the oldest due execution had waited past its next_action_at."
    );
    describe_gauge!(
        OVERDUE,
        Unit::Seconds,
        "How long the most overdue execution has waited unclaimed past its next_action_at, by any edpd sharing \
         the database (read at scrape; 0: nothing overdue)."
    );
    describe_gauge!(
        DB_POOL,
        "Database connections of this edpd (on Postgres sqlx's pool, and the reads' and the writes' own: core's pg_direct), by state (in_use, idle)."
    );
    describe_gauge!(DB_POOL_MAX, "The most database connections this edpd opens.");
    describe_gauge!(ENGINES, "Engine plugins loaded.");
    describe_gauge!(REFUSED, "Plugin files refused (GET /v2/engines says why).");
    describe_histogram!(ENGINE_CALL, Unit::Seconds, "Engine calls by engine and operation, timeouts included.");
}
