use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_executions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub project_id: String,
    pub job_template_id: String,
    pub cluster_id: String,
    pub input_id: Option<String>,
    pub output_id: Option<String>,
    pub engine: String,
    pub status: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub info: Json,
    pub engine_job_id: Option<String>,
    pub return_code: Option<i32>,
    #[sea_orm(column_type = "JsonBinary")]
    pub job_configs: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub interface: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub data_source_urls: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub extra: Json,
    pub is_public: bool,
    pub is_protected: bool,
    pub start_time: Option<DateTimeUtc>,
    pub end_time: Option<DateTimeUtc>,
    pub next_action_at: Option<DateTimeUtc>,
    pub attempts: i32,
    pub cancel_deadline: Option<DateTimeUtc>,
    pub delete_requested: bool,
    /// The flow this execution runs for, if any.
    pub flow_id: Option<String>,
    /// The node holding the lease on this row, while it works on it.
    pub lease_owner: Option<String>,
    /// The claim that took the lease: every write under it names it.
    pub lease_token: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    /// For a host-bound job, the node whose host runs it.
    pub node_id: Option<String>,
    /// Runs as processes on an edpd host (its cluster's placement is `host`).
    pub host_bound: bool,
    /// A launch was begun: the engine may have the job even without an id.
    pub submitted: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
