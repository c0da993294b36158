//! The oozie engine end to end: the real edpd binary with the real plugin
//! library, against the Oozie + WebHDFS test server (tests/oozie-server),
//! everything through edpd's REST API. One test binary; a module per
//! behaviour.

mod callbacks;
mod clusters;
mod common;
mod fairness;
mod flows;
mod job_types;
mod lifecycle;
mod output;
mod resilience;
