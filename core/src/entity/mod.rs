//! sea-orm entities, one per table. Only `core` sees these: the rest of the
//! service works with the domain types in `crate::model`.

pub mod cluster;
pub mod data_source;
pub mod deletion;
pub mod flow;
pub mod flow_job;
pub mod idempotency_key;
pub mod job_binary;
pub mod job_binary_internal;
pub mod job_execution;
pub mod job_template;
pub mod job_template_binary;
pub mod node;
