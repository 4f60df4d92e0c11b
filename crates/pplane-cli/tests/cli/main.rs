//! The `pplane` binary as users and scripts see it: commands, output and exit
//! codes, against the embedded default and against an external server.

mod bad_input;
mod bench;
mod browser;
mod checkpoints;
mod concurrency;
mod crash;
mod demo;
mod destructive;
mod embedded;
mod embedded_citus;
mod external;
mod gate;
mod jobs;
mod metrics;
mod outbox;
mod runs;
mod script;
mod serve;
mod support;
mod trace;
mod unmigrated;
mod usage;
