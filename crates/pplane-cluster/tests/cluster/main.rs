//! The launcher, exercised against the machine's real PostgreSQL binaries.

mod ephemeral;
mod local;
