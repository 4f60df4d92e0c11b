//! `pplane jobs`: the scheduled operations (docs/jobs.md).

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// Each job's policy, its last run, how that ended and when it runs next.
    List,
    /// Run here, once, every job that is due (or only JOB), then exit. A job
    /// running in another process is left to it.
    Run {
        /// outbox-purge, checkpoint-prune, projection-refresh or backup-verify.
        job: Option<String>,
        /// Run even if not due (or disabled); never while another process runs it.
        #[arg(long)]
        now: bool,
    },
    /// Change a job's policy for the plane, or with --tenant for one tenant
    /// (the purge and the prune).
    Set(JobSetArgs),
}

#[derive(Debug, Args)]
pub struct JobSetArgs {
    /// outbox-purge, checkpoint-prune, projection-refresh or backup-verify.
    pub job: String,
    /// How often it runs (`90m`, `1h`, `7d`; at least `1m`).
    #[arg(long, value_name = "D", conflicts_with = "tenant")]
    pub every: Option<String>,
    /// What it keeps by age: delivered entries, or checkpoints, younger than D.
    #[arg(long, value_name = "D")]
    pub retention: Option<String>,
    /// The prune keeps no checkpoints by age (it keeps --keep-latest).
    #[arg(long, conflicts_with = "retention")]
    pub no_retention: bool,
    /// The prune keeps each thread's newest N checkpoints.
    #[arg(long, value_name = "N")]
    pub keep_latest: Option<u32>,
    /// The prune keeps no number of checkpoints (it keeps by --retention).
    #[arg(long, conflicts_with = "keep_latest")]
    pub no_keep_latest: bool,
    /// Run it on its schedule again.
    #[arg(long, conflicts_with_all = ["disable", "tenant"])]
    pub enable: bool,
    /// Stop running it on a schedule (`jobs run JOB --now` still runs it).
    #[arg(long, conflicts_with = "tenant")]
    pub disable: bool,
    /// This tenant's own retention instead of the plane's.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// With --tenant: back to the plane's policy.
    #[arg(long, requires = "tenant", conflicts_with_all = ["retention", "keep_latest"])]
    pub clear: bool,
}
