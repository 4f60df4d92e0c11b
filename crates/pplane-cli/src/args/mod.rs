//! The command line, as the contract names it.

mod jobs;
mod service;

use clap::{Parser, Subcommand};

pub use jobs::{JobSetArgs, JobsAction};
pub use service::{ApiKeyAction, KeyRateArgs, Scope, ServeArgs};

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
    /// Inbound signals: the start of every run.
    Signal {
        #[command(subcommand)]
        action: SignalAction,
    },
    /// Drive a run from the shell: start, steps, tool calls, checkpoints, effects, finish.
    Run {
        #[command(subcommand)]
        action: RunAction,
    },
    /// Tenants and their members.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Where a tenant's effects are delivered: webhooks and JetStream subjects.
    Destination {
        #[command(subcommand)]
        action: DestinationAction,
    },
    /// The HTTP API for orchestrators in any language.
    Serve(ServeArgs),
    /// API keys for the HTTP API: create (shown once), list, revoke.
    Apikey {
        #[command(subcommand)]
        action: ApiKeyAction,
    },
    /// Deliver due outbox entries: claim, deliver, record every outcome.
    Worker(WorkerArgs),
    /// Outbox operations: list, requeue, stats, purge.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// LangGraph checkpoint retention: prune, each deletion recorded.
    Checkpoints {
        #[command(subcommand)]
        action: CheckpointsAction,
    },
    /// The whole plane end to end: tenants, signals, runs, effects delivered, trace, gate.
    Demo(DemoArgs),
    /// The whole story of a run: signal, run, steps, events, effects, outbox, causation.
    Trace(TraceArgs),
    /// The scheduled operations (purge, prune, refresh, backup verification): list, run, set.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Expendable read models: bring them up to date, or rebuild them from the event log.
    Projections {
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// Why a run failed, or where an effect stands and how to requeue it.
    Diagnose {
        #[command(subcommand)]
        what: DiagnoseWhat,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsAction {
    /// Bring the projections up to date from the runtime tables, without blocking readers.
    Refresh,
    /// Replay the event log into fresh projections, prove them equal to the runtime tables, swap them in.
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum CheckpointsAction {
    /// Delete LangGraph checkpoints beyond the newest N of each thread's
    /// namespace, or last written more than a duration ago, with their
    /// pending writes and the values nothing names any more; and drop the
    /// state of run checkpoints the same policy takes (a run's newest keeps
    /// its own). Each recorded as CHECKPOINT_DELETED. One tenant, or every
    /// tenant with an operator login; a batch of 1,000 a transaction.
    Prune(PruneArgs),
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("policy").required(true).args(["keep_latest", "older_than"])))]
pub struct PruneArgs {
    /// Keep the newest N checkpoints of each thread's namespace and of each run (N ≥ 1).
    #[arg(long, value_name = "N")]
    pub keep_latest: Option<u32>,
    /// Delete checkpoints last written more than this long ago (90s, 30m, 12h, 30d).
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Only this tenant (default: every tenant, which needs the operator login).
    #[arg(long, value_name = "UUID")]
    pub tenant: Option<String>,
    /// A member to act as (default: the plane's service principal).
    #[arg(long, value_name = "UUID", requires = "tenant")]
    pub user: Option<String>,
    /// Recorded on each CHECKPOINT_DELETED (default system:checkpoint-retention).
    #[arg(long)]
    pub actor: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DiagnoseWhat {
    /// Failed steps, their failure events, failed tool calls, retries.
    Run(TraceArgs),
    /// Status, outbox entry, dead-letter reason, and the requeue command.
    Effect(TraceArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 2)]
    pub tenants: u32,
    /// Runs per tenant.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Deliver every effect to this receiver instead of the demo's own.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Only enqueue the effects; a separately started `pplane worker` delivers them.
    #[arg(long)]
    pub no_worker: bool,
    /// The targets of the gate the demo ends with (as `check all`'s).
    #[command(flatten)]
    pub targets: LatencyTargets,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TraceArgs {
    /// A correlation id or a run id.
    #[arg(required_unless_present = "thread")]
    pub id: Option<String>,
    /// A LangGraph thread id instead: the thread's run (docs/langgraph.md).
    #[arg(long, conflicts_with = "id")]
    pub thread: Option<String>,
    #[arg(long, value_name = "UUID")]
    pub tenant: String,
    /// A member to read as (default: the plane's service principal).
    #[arg(long, value_name = "UUID")]
    pub user: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Create (first time) and start the cluster, or reuse a running one;
    /// with --database, also create that database when missing (a scratch
    /// database beside the default one, for tests or a second installation).
    Start {
        #[command(flatten)]
        database: EmbeddedDatabase,
        /// Create the cluster as a Citus coordinator with N workers, each
        /// a server of its own on this machine (Citus must be installed:
        /// scripts/citus-install). Only when the cluster is first made; a
        /// cluster of another shape is refused, never converted.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
        citus_workers: Option<u16>,
    },
    /// Stop the cluster.
    Stop,
    /// Whether the cluster exists and runs, and where.
    Status,
    /// The connection URL of the embedded database (or of --database).
    Url {
        #[command(flatten)]
        database: EmbeddedDatabase,
    },
}

/// Which database of the embedded cluster a `db` command means.
#[derive(Debug, clap::Args)]
pub struct EmbeddedDatabase {
    /// The database's name.
    #[arg(long = "database", value_name = "NAME", default_value = crate::target::EMBEDDED_DATABASE,
          value_parser = database_name)]
    pub name: String,
}

/// A database name that needs no quoting anywhere it goes (the store's rule).
fn database_name(name: &str) -> Result<String, String> {
    pplane_store::admin::database_name_check(name)
        .map(|()| name.to_owned())
        .map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations (up to --to VERSION).
    Up {
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
    },
    /// Roll back the newest migration, or every one newer than --to VERSION (0: all).
    /// Rollbacks that drop tables or columns say what they destroy and need --yes
    /// (or a typed confirmation on a terminal).
    Down {
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
        /// Drop what the rollback drops without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Every migration and whether it is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum CheckGate {
    /// Schema validation and the catalog-checkable production gate, with a live cross-tenant probe.
    Schema,
    /// Data quality: orphans, counters, statuses against their last events, causation, gaps.
    Data,
    /// The production gate: schema and data gates, query plans, migrations reversed live, the
    /// dependency graph, a backup restored and checked. Markdown, or --json.
    All {
        /// Judge only the date of the last recorded backup verification.
        #[arg(long)]
        no_backup_verify: bool,
        #[command(flatten)]
        targets: LatencyTargets,
    },
}

/// Section 9's latency targets, which the gate measures live.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LatencyTargets {
    /// Hold the debugging queries to this p95, in ms (the walkthrough's 100).
    #[arg(long, value_name = "MS", default_value_t = LatencyTargets::WALKTHROUGH.query_p95_ms)]
    pub query_p95_ms: f64,
    /// Hold event appends to this p99, in ms (the walkthrough's 10).
    #[arg(long, value_name = "MS", default_value_t = LatencyTargets::WALKTHROUGH.append_p99_ms)]
    pub append_p99_ms: f64,
}

impl LatencyTargets {
    /// Section 9's own targets, the defaults.
    pub const WALKTHROUGH: LatencyTargets = LatencyTargets {
        query_p95_ms: 100.0,
        append_p99_ms: 10.0,
    };

    /// The flags that give these targets to `check all` or `demo`: none
    /// for the walkthrough's own, so that a printed command stays short.
    pub fn flags(&self) -> String {
        let mut flags = String::new();
        if self.query_p95_ms != Self::WALKTHROUGH.query_p95_ms {
            flags += &format!(" --query-p95-ms {}", self.query_p95_ms);
        }
        if self.append_p99_ms != Self::WALKTHROUGH.append_p99_ms {
            flags += &format!(" --append-p99-ms {}", self.append_p99_ms);
        }
        flags
    }
}

impl From<LatencyTargets> for pplane_store::checks::gate::Targets {
    fn from(t: LatencyTargets) -> Self {
        Self {
            query_p95_ms: t.query_p95_ms,
            append_p99_ms: t.append_p99_ms,
        }
    }
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
    /// Show a tenant's quotas on pending effects and what counts against
    /// them; with a flag, set that quota first (an operator's act).
    Quota {
        /// The tenant's id.
        tenant: String,
        /// The most effects the tenant may have pending (requested, not yet
        /// delivered or dead-lettered).
        #[arg(long, value_name = "N")]
        pending_effects: Option<i64>,
        /// The most payload bytes its pending effects may hold (each payload as jsonb text).
        #[arg(long, value_name = "BYTES")]
        pending_bytes: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchScenario {
    /// Event append through the full path, against a plain INSERT of the same shape.
    Append {
        /// Seconds each side of each scenario runs.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Run only this many writers (with --tenants) instead of every scenario.
        #[arg(long, requires = "tenants")]
        writers: Option<u32>,
        /// Spread the writers over this many tenants (with --writers).
        #[arg(long, requires = "writers")]
        tenants: Option<u32>,
        /// Also measure a peer on the same server in the same run: `message-db`
        /// (npm @eventide/message-db, fetched with npm at bench time).
        #[arg(long, value_parser = ["message-db"])]
        peer: Option<String>,
    },
    /// Outbox delivery to a local webhook receiver, against a bare SKIP LOCKED queue.
    Outbox {
        /// Entries waiting when the drain scenarios start.
        #[arg(long, default_value_t = 4_000)]
        backlog: usize,
        /// Effects per second offered in the steady scenario.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// How long the steady scenario runs.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Tenants requesting effects (in the noisy-neighbour scenario, the quiet ones).
        #[arg(long, default_value_t = 10)]
        tenants: u32,
        /// The noisy tenant's backlog in the noisy-neighbour scenario.
        #[arg(long, default_value_t = 10_000)]
        noisy_backlog: usize,
    },
    /// Whole runs over HTTP (`pplane serve`), against the same runs through the library.
    Api {
        /// Seconds each side of each scenario runs.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Run only this many concurrent clients instead of 1, 8 and 32.
        #[arg(long)]
        clients: Option<u32>,
    },
    /// Reconstructing a run of ~1,000 events among a million, against a plain indexed SELECT.
    Trace {
        /// Events of other runs loaded first.
        #[arg(long, default_value_t = 1_000_000)]
        background_events: u32,
        /// Steps of the traced run (three events each, plus three).
        #[arg(long, default_value_t = 332)]
        steps: u32,
        #[arg(long, default_value_t = 200)]
        iterations: u32,
    },
    /// What row-level security costs a query, against the same query on an unprotected copy.
    Rls {
        #[arg(long, default_value_t = 20)]
        tenants: u32,
        #[arg(long, default_value_t = 10_000)]
        rows_per_tenant: u32,
        #[arg(long, default_value_t = 300)]
        iterations: u32,
    },
    /// Event appends while the scheduled purge and prune delete a million rows, against appends alone.
    Jobs {
        /// Delivered outbox entries the purge deletes.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u32,
        /// Checkpoints of one thread and of one run, all but the newest 20 of each pruned.
        #[arg(long, default_value_t = 5_000)]
        checkpoints: u32,
        /// How long the appends alone run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

#[derive(Debug, Subcommand)]
pub enum DestinationAction {
    /// Register a destination; a webhook's signing secret is printed once, here.
    Add {
        /// Lower case letters, digits, '.', '_' and '-'.
        name: String,
        /// A webhook: POSTs signed with the Standard Webhooks scheme.
        #[arg(
            long,
            value_name = "URL",
            conflicts_with = "nats",
            required_unless_present = "nats"
        )]
        webhook: Option<String>,
        /// A NATS JetStream subject (a stream must capture it).
        #[arg(long, value_name = "SUBJECT")]
        nats: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// The tenant's destinations (secrets are never shown again).
    List {
        #[command(flatten)]
        acting: Acting,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Exit once nothing is due, instead of waiting for more.
    #[arg(long)]
    pub until_idle: bool,
    /// With --until-idle: while other workers hold entries under a lease, wait
    /// until they settle them or their leases expire (and this worker takes them).
    #[arg(long, requires = "until_idle")]
    pub wait_leases: bool,
    /// Delivery loops in this process.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Entries one claim takes from one tenant.
    #[arg(long, default_value_t = 32)]
    pub batch: u32,
    /// Tenants one claim serves, a batch each, in turn.
    #[arg(long, default_value_t = 8)]
    pub claim_tenants: u32,
    /// How long a claim is exclusive, in milliseconds (at least twice --timeout-ms).
    #[arg(long, default_value_t = 60_000)]
    pub lease_ms: u64,
    /// Look for due entries at least this often, in milliseconds, even without a notification.
    #[arg(long, default_value_t = 1_000)]
    pub poll_ms: u64,
    /// The first retry's delay, in milliseconds; each later one doubles, up to --retry-cap-ms.
    #[arg(long, default_value_t = 2_000)]
    pub retry_base_ms: u64,
    #[arg(long, default_value_t = 3_600_000)]
    pub retry_cap_ms: u64,
    /// Attempts in all before an entry is dead-lettered.
    #[arg(long, default_value_t = 20)]
    pub max_attempts: u32,
    /// Connecting to a receiver, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub connect_timeout_ms: u64,
    /// One whole delivery, in milliseconds.
    #[arg(long, default_value_t = 15_000)]
    pub timeout_ms: u64,
    /// The NATS server for JetStream destinations.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// The lease owner written on claimed entries (default host:pid:random).
    #[arg(long)]
    pub id: Option<String>,
    /// Do not run the scheduled jobs here (a worker runs them unless
    /// --until-idle or this; see `pplane jobs list`).
    #[arg(long)]
    pub no_jobs: bool,
    /// How often to look for due jobs, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub jobs_tick_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// A tenant's outbox entries, newest first.
    List {
        /// PENDING, IN_FLIGHT, DELIVERED or DEAD_LETTER.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        acting: Acting,
    },
    /// A dead letter back to PENDING with its attempts reset, recorded as the operator's event.
    Requeue {
        id: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Depth by status, the oldest due entry's age, dead letters: of a tenant, or of the
    /// whole plane without --tenant, with the tenants that have the most open entries.
    Stats {
        #[arg(long, value_name = "UUID", requires = "user")]
        tenant: Option<String>,
        #[arg(long, value_name = "UUID", requires = "tenant")]
        user: Option<String>,
        /// Of the whole plane: how many tenants to list, most open entries first.
        #[arg(
            long,
            value_name = "N",
            default_value_t = 10,
            conflicts_with = "tenant"
        )]
        top: i64,
    },
    /// Delete DELIVERED entries delivered before T (RFC 3339); dead letters and events stay.
    Purge {
        #[arg(long, value_name = "T")]
        delivered_before: String,
    },
}

/// A tenant and a member principal of it, as every tenant command names them.
#[derive(Debug, Clone, clap::Args)]
pub struct Member {
    /// The tenant (UUID).
    #[arg(long, value_name = "UUID")]
    pub tenant: String,
    /// The acting principal (UUID), a member of the tenant.
    #[arg(long, value_name = "UUID")]
    pub user: String,
}

/// Who acts, where: on every signal and run command.
#[derive(Debug, Clone, clap::Args)]
pub struct Acting {
    #[command(flatten)]
    pub member: Member,
    /// Recorded on every row and event: agent:ID, user:ID, system:COMPONENT or external:NAME
    /// (default user:<user>).
    #[arg(long)]
    pub actor: Option<String>,
    /// The event that caused this change, of the same run (default: the event the changed
    /// thing hangs from; see docs/events.md, "Causation").
    #[arg(long, value_name = "EVENT_ID")]
    pub caused_by: Option<String>,
    /// Apply only if the entity is still at this version (optimistic concurrency).
    #[arg(long, value_name = "N")]
    pub expect_version: Option<i32>,
}

#[derive(Debug, Subcommand)]
pub enum SignalAction {
    /// Record a signal, idempotently on (tenant, channel, source id), and create its run.
    Ingest {
        #[command(flatten)]
        acting: Acting,
        #[arg(long)]
        channel: String,
        #[arg(long)]
        source_id: String,
        /// The signal's content (JSON).
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Ids of the domain entities the run works on (a JSON object).
        #[arg(long, default_value = "{}")]
        refs: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunAction {
    /// PENDING -> RUNNING.
    Start {
        run: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// The run, its steps and its latest checkpoint.
    Show {
        run: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// RUNNING -> COMPLETED.
    Complete {
        run: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// RUNNING -> FAILED, with the error (JSON).
    Fail {
        run: String,
        #[arg(long)]
        error: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// PENDING or RUNNING -> CANCELLED.
    Cancel {
        run: String,
        #[arg(long, default_value = "cancelled by operator")]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Steps of a run.
    Step {
        #[command(subcommand)]
        action: StepAction,
    },
    /// Tool calls of a running step.
    Tool {
        #[command(subcommand)]
        action: ToolAction,
    },
    /// Save or load what a resume needs.
    Checkpoint {
        #[command(subcommand)]
        action: CheckpointAction,
    },
    /// Request an external effect, delivered later through the outbox.
    Effect {
        run: String,
        #[arg(long = "type")]
        effect_type: String,
        /// Unique per tenant: asking again with the same key returns the first effect.
        #[arg(long)]
        key: String,
        /// What to deliver (a JSON object).
        #[arg(long, default_value = "{}")]
        spec: String,
        /// The step that asks for it.
        #[arg(long, value_name = "STEP_ID")]
        step: Option<String>,
        /// Where it goes: a destination's name (or "destination" in --spec).
        #[arg(long)]
        destination: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
}

#[derive(Debug, Subcommand)]
pub enum StepAction {
    /// Schedule a step (PENDING) at --index or after the last one.
    Add {
        run: String,
        #[arg(long = "type")]
        step_type: String,
        #[arg(long)]
        index: Option<i32>,
        /// The step's input (JSON).
        #[arg(long)]
        input: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// PENDING -> RUNNING.
    Start {
        step: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// RUNNING -> COMPLETED, with its output (JSON).
    Complete {
        step: String,
        #[arg(long)]
        output: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// RUNNING -> FAILED, with the error (JSON).
    Fail {
        step: String,
        #[arg(long)]
        error: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// FAILED -> PENDING, due after an exponential delay; refused once retries run out.
    Retry {
        step: String,
        #[arg(long, default_value_t = 3)]
        max_retries: u32,
        #[arg(long, default_value_t = 1000)]
        base_delay_ms: u64,
        #[arg(long, default_value_t = 60000)]
        max_delay_ms: u64,
        #[command(flatten)]
        acting: Acting,
    },
    /// PENDING -> SKIPPED.
    Skip {
        step: String,
        #[arg(long, default_value = "skipped")]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
}

#[derive(Debug, Subcommand)]
pub enum ToolAction {
    /// A tool call of a RUNNING step begins.
    Start {
        step: String,
        #[arg(long)]
        name: String,
        /// The call's arguments (JSON).
        #[arg(long, default_value = "{}")]
        args: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// The tool call ends with --result (COMPLETED) or --error (FAILED).
    Finish {
        call: String,
        #[arg(long, conflicts_with = "error", required_unless_present = "error")]
        result: Option<String>,
        #[arg(long)]
        error: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
}

#[derive(Debug, Subcommand)]
pub enum CheckpointAction {
    /// Save the run's state (JSON, up to 1 MiB).
    Save {
        run: String,
        #[arg(long)]
        state: String,
        /// The last completed step.
        #[arg(long)]
        last_step: Option<i32>,
        #[command(flatten)]
        acting: Acting,
    },
    /// The run's latest checkpoint.
    Load {
        run: String,
        #[command(flatten)]
        acting: Acting,
    },
}
