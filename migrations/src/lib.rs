//! The database schema, one migration per change. Runs on SQLite and Postgres.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_init;
mod m20261124_000002_flows;
mod m20261126_000003_change_cursor;
mod m20261205_000003_host_policy;
mod m20261206_000005_leases;
mod m20261207_000006_job_policies;
mod m20261207_000007_list_indexes;
mod m20261208_000008_due_index;
mod m20261209_000009_deletions;
mod m20261210_000010_queue_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_init::Migration),
            Box::new(m20261124_000002_flows::Migration),
            Box::new(m20261126_000003_change_cursor::Migration),
            Box::new(m20261205_000003_host_policy::Migration),
            Box::new(m20261206_000005_leases::Migration),
            Box::new(m20261207_000006_job_policies::Migration),
            Box::new(m20261207_000007_list_indexes::Migration),
            Box::new(m20261208_000008_due_index::Migration),
            Box::new(m20261209_000009_deletions::Migration),
            Box::new(m20261210_000010_queue_indexes::Migration),
        ]
    }
}
