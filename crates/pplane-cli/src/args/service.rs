//! The service's commands: `serve` and its API keys.

use clap::{Args, Subcommand, ValueEnum};

use super::Member;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen (loopback by default: put a TLS proxy in front of it
    /// before exposing it).
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub listen: String,
    /// Also run the outbox worker in this process.
    #[arg(long)]
    pub worker: bool,
    /// Also report each tenant's outbox depth on /metrics
    /// (`pplane_outbox_tenant_entries{tenant,status}`): a series per tenant,
    /// so only where tenants are few enough.
    #[arg(long)]
    pub metrics_per_tenant: bool,
    /// Serve /metrics on this address only (an internal interface that only
    /// Prometheus reaches), not on --listen. /metrics takes no key.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
}

/// What a key may do; each includes the one before it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Scope {
    /// Read runs, traces and the event log.
    Read,
    /// Also drive runs: signals, steps, tool calls, checkpoints, effects.
    Runtime,
    /// Also operate the outbox: list, requeue, purge.
    Operator,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyAction {
    /// Create a key for a member of a tenant (it acts as that member); prints it once.
    Create {
        #[command(flatten)]
        member: Member,
        /// What the key may do.
        #[arg(long, value_enum)]
        scope: Scope,
        /// A name that says what uses the key.
        #[arg(long, default_value = "api")]
        name: String,
        /// Expire after this long: 90s, 30m, 12h, 30d.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// The tenant's keys, without their secrets.
    List {
        #[command(flatten)]
        member: Member,
    },
    /// Revoke a key: its next request is refused.
    Revoke {
        /// The key's id (UUID), as `apikey list` shows it.
        id: String,
        #[command(flatten)]
        member: Member,
    },
}
