//! Flows: several jobs submitted as one. edp infers who depends on whom
//! from the data sources each job reads and writes ([`graph`]), runs
//! independent jobs side by side, and can skip jobs whose outputs already
//! exist. Each flow job is an ordinary execution; [`driver`] advances a
//! flow as its executions end, one database transaction per launch so a
//! restart never launches a job twice.

mod api;
mod driver;
pub mod graph;
mod outputs;
mod state;

pub use api::{Flow, FlowJob, NewFlow, NewFlowJob, cancel, delete, get, graph_dot, graph_json, list, submit};
pub(crate) use driver::advance_all;
pub use state::FlowStatus;
