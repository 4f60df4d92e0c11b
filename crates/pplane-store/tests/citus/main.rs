//! The plane on Citus: a coordinator and two workers, started per test
//! process from the system's PostgreSQL with the extension that
//! `scripts/citus-install` builds, and a fresh database on all three per
//! test. (Issue 15, first part: the cluster and the migrations; the
//! distribution of the tenant tables comes next.)

mod checkpoint_retention;
mod debugging;
mod event_log;
mod ingestion;
mod migrations;
mod quotas;
