//! `edp-mapreduce <jobdir>/mapreduce-spec.json`: runs one MapReduce.Streaming
//! job (see `edp_engine_local::mapreduce::runner`). Started by
//! `edp-supervisor` as a streaming job's process; installed beside the plugin.

fn main() -> std::process::ExitCode {
    edp_engine_local::mapreduce::runner::main()
}
