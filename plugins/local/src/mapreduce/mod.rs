//! MapReduce.Streaming on one machine: the runner (`edp-mapreduce`, the
//! job process a streaming job's supervisor starts) and what the plugin
//! shares with it.
//!
//! - `spec`: the runner's spec and status files (the plugin ↔ runner contract).
//! - `argv`: streaming commands → argv, without a shell.
//! - `input`: input files, splits at line ends, feeding a split (gzip too).
//! - `collect`: a map task's sort buffer (hash-grouped, sorted by key at spill).
//! - `combine`: the combiner, run on counted records without expanding them.
//! - `run`: sorted run files, reading them, k-way merging.
//! - `task`: one map or reduce attempt: processes, pipes, spills, merges.
//! - `runner`: the job: phases, slots, retries, status, commit, signals.
//! - `sys`: rusage, signals, pipe sizes.

pub mod argv;
pub mod collect;
mod combine;
pub mod input;
pub mod run;
pub mod runner;
pub mod spec;
mod sys;
mod task;
