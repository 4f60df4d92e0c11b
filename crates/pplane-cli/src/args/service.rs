//! The service's commands: `serve` and its API keys.

use clap::{Args, Subcommand, ValueEnum};

use super::Member;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen (loopback by default: put a TLS proxy in front of it
    /// before exposing it).
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub listen: String,
    /// Also run the outbox worker in this process, and the scheduled jobs.
    #[arg(long)]
    pub worker: bool,
    /// With --worker: leave the scheduled jobs to other processes.
    #[arg(long, requires = "worker")]
    pub no_jobs: bool,
    /// Also report each tenant's outbox depth on /metrics
    /// (`pplane_outbox_tenant_entries{tenant,status}`): a series per tenant,
    /// so only where tenants are few enough.
    #[arg(long)]
    pub metrics_per_tenant: bool,
    /// Serve /metrics on this address only (an internal interface that only
    /// Prometheus reaches), not on --listen. /metrics takes no key.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Requests a second each API key may make on average, unless the key
    /// has its own rate (`apikey limit`).
    #[arg(long, value_name = "N", default_value_t = 100.0)]
    pub key_rate: f64,
    /// Requests an API key may make at once (its bucket's size).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub key_burst: u32,
    /// Requests a second all of a tenant's keys together may make on average.
    #[arg(long, value_name = "N", default_value_t = 200.0)]
    pub tenant_rate: f64,
    /// Requests a tenant's keys together may make at once.
    #[arg(long, value_name = "N", default_value_t = 400)]
    pub tenant_burst: u32,
}

/// A key's own request rate, at creation or later.
#[derive(Debug, Args)]
pub struct KeyRateArgs {
    /// Requests a second this key may make on average (`pplane serve`
    /// refuses more with 429).
    #[arg(long, value_name = "N", requires = "burst")]
    pub rate: Option<f32>,
    /// Requests this key may make at once.
    #[arg(long, value_name = "N", requires = "rate")]
    pub burst: Option<i32>,
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
        /// The key's own rate; without it, the server's default for keys.
        #[command(flatten)]
        rate: KeyRateArgs,
    },
    /// Give a key its own request rate, or (--default) the server's again.
    Limit {
        /// The key's id (UUID), as `apikey list` shows it.
        id: String,
        #[command(flatten)]
        member: Member,
        #[command(flatten)]
        rate: KeyRateArgs,
        /// Follow the server's default for keys again.
        #[arg(long, conflicts_with_all = ["rate", "burst"])]
        default: bool,
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
