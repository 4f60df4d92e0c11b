//! The command line, as the contract names it.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pplane",
    version,
    about = "A persistence plane for AI-agent orchestration on PostgreSQL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The embedded PostgreSQL cluster used when DATABASE_URL is unset.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Versioned, reversible migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Validation gates; exit 1 on any FAIL.
    Check {
        #[command(subcommand)]
        gate: CheckGate,
    },
    /// Benchmarks with a raw baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        scenario: BenchScenario,
    },
    /// Tenants and their members.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Create (first time) and start the cluster, or reuse a running one.
    Start,
    /// Stop the cluster.
    Stop,
    /// Whether the cluster exists and runs, and where.
    Status,
    /// The connection URL of the embedded database.
    Url,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations (up to --to VERSION).
    Up {
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
    },
    /// Roll back the newest migration, or every one newer than --to VERSION (0: all).
    Down {
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
    },
    /// Every migration and whether it is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum CheckGate {
    /// Schema validation and the catalog-checkable production gate, with a live cross-tenant probe.
    Schema,
}

#[derive(Debug, Subcommand)]
pub enum TenantAction {
    /// Create a tenant with a member principal; prints both ids.
    Create {
        /// A display name, 1 to 200 characters.
        name: String,
        /// The member's id (a user or service account); a new one when omitted.
        #[arg(long, value_name = "UUID")]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchScenario {
    /// What row-level security costs a query, against the same query on an unprotected copy.
    Rls {
        #[arg(long, default_value_t = 20)]
        tenants: u32,
        #[arg(long, default_value_t = 10_000)]
        rows_per_tenant: u32,
        #[arg(long, default_value_t = 300)]
        iterations: u32,
    },
}
