//! Reading a run: the run, its steps in order, its latest checkpoint.

use pplane_domain::RunId;
use serde::Serialize;

use crate::operations::runs::run_get;
use crate::repositories::checkpoints::checkpoint_latest;
pub use crate::repositories::checkpoints::Checkpoint;
pub use crate::repositories::runs::Run;
use crate::repositories::steps::steps_of_run;
pub use crate::repositories::steps::Step;
pub use crate::repositories::tool_calls::ToolCall;
use crate::{Result, TenantTx};

/// A run as an orchestrator resumes it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunView {
    pub run: Run,
    pub steps: Vec<Step>,
    pub checkpoint: Option<Checkpoint>,
}

/// The run with its steps in order and its latest checkpoint; NotFound when
/// the tenant has no such run.
pub async fn run_view(tx: &mut TenantTx, id: RunId) -> Result<RunView> {
    let run = run_get(tx, id).await?;
    let tenant = tx.tenant();
    let steps = steps_of_run(tx.conn(), tenant, id).await?;
    let checkpoint = checkpoint_latest(tx.conn(), tenant, id).await?;
    Ok(RunView {
        run,
        steps,
        checkpoint,
    })
}
