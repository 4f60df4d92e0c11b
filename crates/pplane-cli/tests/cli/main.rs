//! The `pplane` binary as users and scripts see it: commands, output and exit
//! codes, against the embedded default and against an external server.

mod bench;
mod crash;
mod demo;
mod embedded;
mod external;
mod gate;
mod outbox;
mod runs;
mod script;
mod support;
mod trace;
mod usage;
