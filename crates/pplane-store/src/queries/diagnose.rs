//! Failure diagnosis, the walkthrough's section 8 "Diagnose Failed Run" and
//! "Trace External Effect", each in one round trip.

use serde::{Deserialize, Serialize};

use crate::repositories::effects::{self, Effect};
use crate::repositories::events::{self, Event};
use crate::repositories::outbox::{self, OutboxEntry};
use crate::repositories::runs::{self, Run};
use crate::repositories::steps::{self, Step};
use crate::repositories::tool_calls::{self, ToolCall};
use crate::{Result, TenantTx};
use pplane_domain::{EffectId, RunId};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDiagnosis {
    pub run: Run,
    /// Steps that failed now or before (a retry leaves `retry_count` above 0).
    pub troubled_steps: Vec<StepDiagnosis>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepDiagnosis {
    pub step: Step,
    /// Its STEP_FAILED events, oldest first.
    pub failures: Vec<Event>,
    pub failed_tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectDiagnosis {
    pub effect: Effect,
    pub outbox: Option<OutboxEntry>,
    /// The effect's events, in log order.
    pub events: Vec<Event>,
}

pub async fn diagnose_run(tx: &mut TenantTx, run: RunId) -> Result<Option<RunDiagnosis>> {
    let sql = format!(
        "SELECT jsonb_build_object(
             'run', to_jsonb(r),
             'troubled_steps', coalesce((
                 SELECT jsonb_agg(jsonb_build_object(
                     'step', to_jsonb(s),
                     'failures', coalesce((SELECT jsonb_agg(e ORDER BY e.sequence_number) FROM (
                         SELECT {event} FROM orchestration_events
                         WHERE tenant_id = $1 AND aggregate_id = s.id AND event_type = 'STEP_FAILED') e), '[]'),
                     'failed_tool_calls', coalesce((SELECT jsonb_agg(t ORDER BY t.started_at) FROM (
                         SELECT {tool} FROM tool_calls
                         WHERE tenant_id = $1 AND step_id = s.id AND status = 'FAILED') t), '[]'))
                   ORDER BY s.step_index)
                 FROM (SELECT {step} FROM steps
                       WHERE tenant_id = $1 AND run_id = r.id
                         AND (status = 'FAILED' OR retry_count > 0)) s), '[]'))
         FROM (SELECT {run} FROM runs WHERE tenant_id = $1 AND id = $2) r",
        event = events::EVENT_COLUMNS,
        tool = tool_calls::COLUMNS,
        step = steps::COLUMNS,
        run = runs::COLUMNS,
    );
    let tenant = tx.tenant();
    super::document(tx.conn(), &sql, tenant, run.as_uuid()).await
}

pub async fn diagnose_effect(
    tx: &mut TenantTx,
    effect: EffectId,
) -> Result<Option<EffectDiagnosis>> {
    let sql = format!(
        "SELECT jsonb_build_object(
             'effect', to_jsonb(f),
             'outbox', (SELECT to_jsonb(o) FROM (SELECT {outbox} FROM outbox_events o
                        WHERE tenant_id = $1 AND aggregate_type = 'EFFECT' AND aggregate_id = f.id) o),
             'events', coalesce((SELECT jsonb_agg(e ORDER BY e.sequence_number) FROM (
                        SELECT {event} FROM orchestration_events
                        WHERE tenant_id = $1 AND aggregate_id = f.id) e), '[]'))
         FROM (SELECT {effect} FROM effects WHERE tenant_id = $1 AND id = $2) f",
        outbox = outbox::COLUMNS,
        event = events::EVENT_COLUMNS,
        effect = effects::COLUMNS,
    );
    let tenant = tx.tenant();
    super::document(tx.conn(), &sql, tenant, effect.as_uuid()).await
}
