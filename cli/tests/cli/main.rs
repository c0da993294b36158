//! End-to-end tests of the `edp` binary against a real edpd with the real
//! plugins (edp-tests' `TestApp`). One test binary; a module per behaviour.

mod dry_run;
mod errors;
mod flows;
mod job_files;
mod jobs;
mod readme;
mod scripting;
mod support;
