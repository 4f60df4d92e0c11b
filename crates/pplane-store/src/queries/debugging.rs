//! The walkthrough's Standard Debugging Procedure (section 8), query by query,
//! exactly as it is written there (with `$1` for its placeholders).
//!
//! None of them filters by tenant: under row-level security the policy adds
//! `tenant_id = current_tenant_id()`, which is why every index they need leads
//! with tenant_id. On Citus each also has its routed form, the same query
//! with `tenant_id = $2` in every part, which runs as one task on the
//! tenant's worker. Each query names the indexes it relies on; `pplane check
//! schema` verifies those exist, and a test runs each query under EXPLAIN on a
//! populated database to prove the planner uses them.

/// An index a query needs: its table and leading columns.
#[derive(Debug, Clone, Copy)]
pub struct IndexNeed {
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

/// What a query's `$1` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugParam {
    CorrelationId,
    RunId,
    StepId,
    EffectId,
    OutboxId,
}

#[derive(Debug, Clone, Copy)]
pub struct DebugQuery {
    /// Where it stands in section 8.
    pub name: &'static str,
    pub sql: &'static str,
    /// The same query with its tenant filter spelled out (`$2`): what an
    /// operator types on Citus, where row-level security alone gives the
    /// planner no value to route on (the query would run on every shard,
    /// and the join of step 5 not at all).
    pub routed: &'static str,
    pub param: DebugParam,
    pub needs: &'static [IndexNeed],
}

const fn need(table: &'static str, columns: &'static [&'static str]) -> IndexNeed {
    IndexNeed { table, columns }
}

pub const DEBUG_QUERIES: &[DebugQuery] = &[
    DebugQuery {
        name: "reconstruct 1: locate signal",
        param: DebugParam::CorrelationId,
        sql: "SELECT * FROM signals WHERE correlation_id = $1",
        routed: "SELECT * FROM signals WHERE tenant_id = $2 AND correlation_id = $1",
        needs: &[need("signals", &["tenant_id", "correlation_id"])],
    },
    DebugQuery {
        name: "reconstruct 2: locate run",
        param: DebugParam::CorrelationId,
        sql: "SELECT * FROM runs WHERE correlation_id = $1",
        routed: "SELECT * FROM runs WHERE tenant_id = $2 AND correlation_id = $1",
        needs: &[need("runs", &["tenant_id", "correlation_id"])],
    },
    DebugQuery {
        name: "reconstruct 3: steps in order",
        param: DebugParam::RunId,
        sql: "SELECT * FROM steps WHERE run_id = $1 ORDER BY step_index ASC",
        routed: "SELECT * FROM steps WHERE tenant_id = $2 AND run_id = $1 ORDER BY step_index ASC",
        needs: &[need("steps", &["tenant_id", "run_id", "step_index"])],
    },
    DebugQuery {
        name: "reconstruct 4: events",
        param: DebugParam::CorrelationId,
        sql: "SELECT event_type, event_data, occurred_at, actor FROM orchestration_events \
              WHERE correlation_id = $1 ORDER BY sequence_number ASC",
        routed: "SELECT event_type, event_data, occurred_at, actor FROM orchestration_events \
              WHERE tenant_id = $2 AND correlation_id = $1 ORDER BY sequence_number ASC",
        needs: &[need(
            "orchestration_events",
            &["tenant_id", "correlation_id", "sequence_number"],
        )],
    },
    DebugQuery {
        name: "reconstruct 5: effects",
        param: DebugParam::CorrelationId,
        sql: "SELECT e.id, e.effect_type, e.status, e.execution_result FROM effects e \
              JOIN runs r ON e.run_id = r.id WHERE r.correlation_id = $1",
        routed: "SELECT e.id, e.effect_type, e.status, e.execution_result FROM effects e \
              JOIN runs r ON e.tenant_id = r.tenant_id AND e.run_id = r.id \
              WHERE r.tenant_id = $2 AND r.correlation_id = $1",
        needs: &[
            need("runs", &["tenant_id", "correlation_id"]),
            need("effects", &["tenant_id", "run_id"]),
        ],
    },
    DebugQuery {
        name: "reconstruct 6: outbox",
        param: DebugParam::CorrelationId,
        sql: "SELECT o.event_type, o.status, o.retry_count, o.error_details FROM outbox_events o \
              WHERE o.correlation_id = $1",
        routed: "SELECT o.event_type, o.status, o.retry_count, o.error_details FROM outbox_events o \
              WHERE o.tenant_id = $2 AND o.correlation_id = $1",
        needs: &[need("outbox_events", &["tenant_id", "correlation_id"])],
    },
    DebugQuery {
        name: "reconstruct 7: causation chain",
        param: DebugParam::CorrelationId,
        sql: "WITH RECURSIVE causal_chain AS ( \
                SELECT id, event_type, causation_id, 0 AS depth FROM orchestration_events \
                WHERE correlation_id = $1 AND causation_id IS NULL \
                UNION ALL \
                SELECT e.id, e.event_type, e.causation_id, c.depth + 1 FROM orchestration_events e \
                JOIN causal_chain c ON e.causation_id = c.id) \
              SELECT * FROM causal_chain ORDER BY depth ASC",
        routed: "WITH RECURSIVE causal_chain AS ( \
                SELECT id, event_type, causation_id, 0 AS depth FROM orchestration_events \
                WHERE tenant_id = $2 AND correlation_id = $1 AND causation_id IS NULL \
                UNION ALL \
                SELECT e.id, e.event_type, e.causation_id, c.depth + 1 FROM orchestration_events e \
                JOIN causal_chain c ON e.causation_id = c.id WHERE e.tenant_id = $2) \
              SELECT * FROM causal_chain ORDER BY depth ASC",
        needs: &[
            need("orchestration_events", &["tenant_id", "correlation_id"]),
            need("orchestration_events", &["tenant_id", "causation_id"]),
        ],
    },
    DebugQuery {
        name: "diagnose run 1: failed steps",
        param: DebugParam::RunId,
        sql:
            "SELECT id, step_type, error_details FROM steps WHERE run_id = $1 AND status = 'FAILED'",
        routed: "SELECT id, step_type, error_details FROM steps \
              WHERE tenant_id = $2 AND run_id = $1 AND status = 'FAILED'",
        needs: &[need("steps", &["tenant_id", "run_id"])],
    },
    DebugQuery {
        name: "diagnose run 2: failure events",
        param: DebugParam::StepId,
        sql: "SELECT event_type, event_data FROM orchestration_events \
              WHERE aggregate_id = $1 AND event_type = 'STEP_FAILED'",
        routed: "SELECT event_type, event_data FROM orchestration_events \
              WHERE tenant_id = $2 AND aggregate_id = $1 AND event_type = 'STEP_FAILED'",
        needs: &[need("orchestration_events", &["tenant_id", "aggregate_id"])],
    },
    DebugQuery {
        name: "diagnose run 3: failed tool calls",
        param: DebugParam::StepId,
        sql: "SELECT tool_name, tool_args, error_details FROM tool_calls \
              WHERE step_id = $1 AND status = 'FAILED'",
        routed: "SELECT tool_name, tool_args, error_details FROM tool_calls \
              WHERE tenant_id = $2 AND step_id = $1 AND status = 'FAILED'",
        needs: &[need("tool_calls", &["tenant_id", "step_id"])],
    },
    DebugQuery {
        name: "diagnose run 4: retry attempts",
        param: DebugParam::StepId,
        sql: "SELECT retry_count FROM steps WHERE id = $1",
        routed: "SELECT retry_count FROM steps WHERE tenant_id = $2 AND id = $1",
        needs: &[need("steps", &["tenant_id", "id"])],
    },
    DebugQuery {
        name: "trace effect 1: effect status",
        param: DebugParam::EffectId,
        sql: "SELECT status, retry_count, next_retry_at FROM effects WHERE id = $1",
        routed: "SELECT status, retry_count, next_retry_at FROM effects WHERE tenant_id = $2 AND id = $1",
        needs: &[need("effects", &["tenant_id", "id"])],
    },
    DebugQuery {
        name: "trace effect 2: outbox entry",
        param: DebugParam::EffectId,
        sql: "SELECT status, error_details, retry_count FROM outbox_events \
              WHERE aggregate_type = 'EFFECT' AND aggregate_id = $1",
        routed: "SELECT status, error_details, retry_count FROM outbox_events \
              WHERE tenant_id = $2 AND aggregate_type = 'EFFECT' AND aggregate_id = $1",
        needs: &[need("outbox_events", &["tenant_id", "aggregate_id"])],
    },
    DebugQuery {
        name: "trace effect 3: dead-letter reason",
        param: DebugParam::OutboxId,
        sql: "SELECT error_details FROM outbox_events WHERE id = $1",
        routed: "SELECT error_details FROM outbox_events WHERE tenant_id = $2 AND id = $1",
        needs: &[need("outbox_events", &["tenant_id", "id"])],
    },
    DebugQuery {
        name: "trace effect 4: requeue",
        param: DebugParam::OutboxId,
        sql: "UPDATE outbox_events SET status = 'PENDING', retry_count = 0, next_retry_at = NULL \
              WHERE id = $1",
        routed: "UPDATE outbox_events SET status = 'PENDING', retry_count = 0, next_retry_at = NULL \
              WHERE tenant_id = $2 AND id = $1",
        needs: &[need("outbox_events", &["tenant_id", "id"])],
    },
];
