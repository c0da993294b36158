//! The spark engine end to end: the real edpd binary with the real plugin
//! library, against a real Apache Spark (pyspark from PyPI, set up by
//! scripts/setup-spark), everything through edpd's REST API. One test
//! binary; a module per way of running Spark.

mod auth;
mod common;
mod inprocess;
mod local;
mod standalone;
