use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub position: i32,
    pub job_template_id: String,
    pub cluster_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub inputs: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub outputs: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub job_configs: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub depends_on: Json,
    pub state: String,
    pub reason: Option<String>,
    pub execution_id: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
