//! Trace reconstruction: the walkthrough's seven steps (section 8) for one
//! correlation — signal, runs, ordered steps with their tool calls, ordered
//! events, effects, outbox entries, and the causation chain — in one round
//! trip. Every part filters by tenant and reaches its rows through an index
//! (`tests/store/debugging_indexes.rs` covers the same access paths).

use std::collections::{HashMap, HashSet};

use pplane_domain::{CorrelationId, EventId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::repositories::effects::{self, Effect};
use crate::repositories::events;
pub use crate::repositories::events::{CausalLink, Event};
use crate::repositories::outbox::{self, OutboxEntry};
use crate::repositories::runs::{self, Run};
use crate::repositories::signals::{self, Signal};
use crate::repositories::steps::{self, Step};
use crate::repositories::tool_calls::{self, ToolCall};
use crate::{Result, TenantTx};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trace {
    pub correlation_id: CorrelationId,
    pub signal: Option<Signal>,
    pub runs: Vec<Run>,
    /// Ordered by run, then step index.
    pub steps: Vec<Step>,
    pub tool_calls: Vec<ToolCall>,
    /// In log order.
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    pub outbox: Vec<OutboxEntry>,
    /// The recursive causation query's answer: every event reachable from
    /// the root, with its depth.
    pub chain: Vec<CausalLink>,
}

/// The trace of `id`, a correlation id or a run id, in `tenant`; None when
/// neither names anything visible there. Sets `jit = off` for the rest of
/// the caller's transaction (see [`super::document`]).
pub async fn trace_load(tx: &mut TenantTx, id: Uuid) -> Result<Option<Trace>> {
    let sql = format!(
        "WITH c AS (
             SELECT correlation_id FROM runs WHERE tenant_id = $1 AND id = $2
             UNION ALL
             SELECT correlation_id FROM signals WHERE tenant_id = $1 AND correlation_id = $2
             UNION ALL
             SELECT correlation_id FROM runs WHERE tenant_id = $1 AND correlation_id = $2
             LIMIT 1),
         r AS (SELECT {run} FROM runs WHERE tenant_id = $1 AND correlation_id = (SELECT correlation_id FROM c)),
         s AS (SELECT {step} FROM steps WHERE tenant_id = $1 AND run_id IN (SELECT id FROM r))
         SELECT jsonb_build_object(
             'correlation_id', c.correlation_id,
             'signal', (SELECT to_jsonb(x) FROM (SELECT {signal} FROM signals
                        WHERE tenant_id = $1 AND correlation_id = c.correlation_id LIMIT 1) x),
             'runs', coalesce((SELECT jsonb_agg(r ORDER BY r.id) FROM r), '[]'),
             'steps', coalesce((SELECT jsonb_agg(s ORDER BY s.run_id, s.step_index) FROM s), '[]'),
             'tool_calls', coalesce((SELECT jsonb_agg(t ORDER BY t.id) FROM (SELECT {tool} FROM tool_calls
                        WHERE tenant_id = $1 AND step_id IN (SELECT id FROM s)) t), '[]'),
             'events', coalesce((SELECT jsonb_agg(e ORDER BY e.sequence_number) FROM (SELECT {event}
                        FROM orchestration_events
                        WHERE tenant_id = $1 AND correlation_id = c.correlation_id) e), '[]'),
             'effects', coalesce((SELECT jsonb_agg(f ORDER BY f.id) FROM (SELECT {effect} FROM effects
                        WHERE tenant_id = $1 AND run_id IN (SELECT id FROM r)) f), '[]'),
             'outbox', coalesce((SELECT jsonb_agg(o ORDER BY o.created_at) FROM (SELECT {outbox}
                        FROM outbox_events o
                        WHERE tenant_id = $1 AND correlation_id = c.correlation_id) o), '[]'),
             'chain', coalesce(({chain}
                        SELECT jsonb_agg(cc ORDER BY cc.depth) FROM causal_chain cc), '[]'))
         FROM c",
        chain = events::causal_chain_cte("c.correlation_id"),
        run = runs::COLUMNS,
        step = steps::COLUMNS,
        signal = signals::COLUMNS,
        tool = tool_calls::COLUMNS,
        event = events::EVENT_COLUMNS,
        effect = effects::COLUMNS,
        outbox = outbox::COLUMNS,
    );
    let tenant = tx.tenant();
    super::document(tx.conn(), &sql, tenant, id).await
}

/// One line of a drawn causation tree: the event and the glyphs before it.
#[derive(Debug, Clone)]
pub struct TreeLine<'a> {
    pub link: &'a CausalLink,
    /// `├─ `, `└─ ` and `│  ` for each level above it.
    pub prefix: String,
}

/// The causation chain laid out as a tree: each event under the one it
/// hangs from, children in the order they happened (UUIDv7 ids sort by
/// time), so parallel work shows as siblings. Indentation stops growing past
/// a depth of 16 (each link carries its depth).
pub fn causation_tree(chain: &[CausalLink]) -> Vec<TreeLine<'_>> {
    let known: HashSet<EventId> = chain.iter().map(|l| l.id).collect();
    let mut children: HashMap<Option<EventId>, Vec<&CausalLink>> = HashMap::new();
    for link in chain {
        // A cause outside the chain (none, for the root) starts a tree.
        let parent = link.causation_id.filter(|c| known.contains(c));
        children.entry(parent).or_default().push(link);
    }
    for list in children.values_mut() {
        list.sort_by_key(|l| l.id);
    }
    let mut lines = Vec::new();
    // (link, the prefix of its line, the prefix its children continue)
    let mut stack: Vec<(&CausalLink, String, String)> = children
        .get(&None)
        .into_iter()
        .flatten()
        .rev()
        .map(|l| (*l, String::new(), String::new()))
        .collect();
    while let Some((link, prefix, continued)) = stack.pop() {
        lines.push(TreeLine { link, prefix });
        let kids = children
            .get(&Some(link.id))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let deep = continued.chars().count() >= 16 * 3;
        for (i, kid) in kids.iter().enumerate().rev() {
            let (mine, theirs) = match (deep, i + 1 == kids.len()) {
                (true, _) => ("", ""),
                (false, true) => ("└─ ", "   "),
                (false, false) => ("├─ ", "│  "),
            };
            stack.push((
                kid,
                format!("{continued}{mine}"),
                format!("{continued}{theirs}"),
            ));
        }
    }
    lines
}
