//! End-to-end tests through edpd's REST API: the real edpd binary, the real
//! plugin libraries copied into a temporary plugin directory, real
//! processes. One test binary (one link); each module a behaviour.

mod bad_input;
mod callbacks;
mod config;
mod dropin;
mod events;
mod example_engine;
mod flows;
mod follow;
mod helpers;
mod lifecycle;
mod limits;
mod local_jobs;
mod observability;
mod openapi;
mod openstack_cli;
mod output;
mod paging;
mod plugins;
mod policies;
mod postgres;
mod replicas;
mod restart;
mod saharaclient;
mod secrets;
mod security;
mod v11;
