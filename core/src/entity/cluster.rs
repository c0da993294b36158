use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "clusters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub plugin_name: String,
    pub plugin_version: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub cluster_configs: Json,
    pub status: String,
    pub status_description: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub info: Json,
    pub declared: bool,
    /// `host` or `remote`: where the cluster's jobs run (`crate::host`).
    pub placement: String,
    /// Projects allowed to use a host cluster (a JSON list); null: the owner's.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub projects: Option<Json>,
    /// Jobs running at once on it; more wait PENDING. None: unlimited.
    pub max_concurrent_jobs: Option<i32>,
    pub is_public: bool,
    pub is_protected: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
