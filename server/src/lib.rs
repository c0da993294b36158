//! edpd: the HTTP face of edp. Sahara v2's contract for clusters, job
//! templates, data sources, job binaries and jobs, plus edp's extensions
//! (engines, logs, dry runs). Knows no engine internals.

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod ui;
