//! `pplane check data`: the data-quality gate (the role FIT-DATA-QUALITY-001
//! plays). Where `check schema` proves the rules are in place, this proves
//! the rows obey them: nothing orphaned, counters equal to their events,
//! every status what its last event says, causation inside its tenant and
//! correlation with one root each, and no gap in any tenant's log.
//!
//! It reads every tenant at once, so it runs as the login and needs one
//! that sees past row-level security (a superuser, or a BYPASSRLS backup
//! role); with any other login it fails and says so. Each check names its
//! offending ids (the first ten, and how many in all).

use sqlx::{Connection, PgConnection};

use super::{Area, CheckReport, CheckResult};
use crate::repositories::events::implied_status_values;
use crate::{Admin, Result};

/// Offenders a FAIL names before it only counts.
const SHOWN: usize = 10;

struct DataCheck {
    name: &'static str,
    /// Returns one text row per offender.
    sql: String,
}

/// The checks.
fn checks() -> Vec<DataCheck> {
    let implied = implied_status_values();
    let lifecycle = |table: &str, aggregate: &str, label: &str| {
        format!(
            "SELECT '{label} ' || x.id || ' is ' || x.status || ' at version ' || x.version
                    || ', its last event ' || l.event_type || ' (version ' || l.aggregate_version
                    || ') implies ' || coalesce(i.status, '?')
             FROM {table} x
             JOIN (SELECT DISTINCT ON (tenant_id, aggregate_id) tenant_id, aggregate_id, event_type,
                          aggregate_version
                   FROM orchestration_events WHERE aggregate_type = '{aggregate}'
                   ORDER BY tenant_id, aggregate_id, sequence_number DESC) l
               ON l.tenant_id = x.tenant_id AND l.aggregate_id = x.id
             LEFT JOIN implied i ON i.event_type = l.event_type
             WHERE x.status IS DISTINCT FROM i.status OR x.version <> l.aggregate_version"
        )
    };
    vec![
        DataCheck {
            name: "every event's aggregate exists",
            sql: "SELECT e.event_type || ' ' || e.id || ' names a missing ' || e.aggregate_type
                         || ' ' || e.aggregate_id
                  FROM orchestration_events e
                  WHERE NOT CASE e.aggregate_type
                      WHEN 'SIGNAL' THEN EXISTS (SELECT 1 FROM signals x
                          WHERE x.tenant_id = e.tenant_id AND x.id = e.aggregate_id)
                      WHEN 'RUN' THEN EXISTS (SELECT 1 FROM runs x
                          WHERE x.tenant_id = e.tenant_id AND x.id = e.aggregate_id)
                      WHEN 'STEP' THEN EXISTS (SELECT 1 FROM steps x
                          WHERE x.tenant_id = e.tenant_id AND x.id = e.aggregate_id)
                      WHEN 'TOOL_CALL' THEN EXISTS (SELECT 1 FROM tool_calls x
                          WHERE x.tenant_id = e.tenant_id AND x.id = e.aggregate_id)
                      WHEN 'CHECKPOINT' THEN EXISTS (SELECT 1 FROM run_checkpoints x
                          WHERE x.tenant_id = e.tenant_id AND x.id = e.aggregate_id)
                      WHEN 'EFFECT' THEN EXISTS (SELECT 1 FROM effects x
                          WHERE x.tenant_id = e.tenant_id AND x.id = e.aggregate_id)
                      ELSE false END"
                .into(),
        },
        DataCheck {
            // (An effect may lack its entry: retention purges delivered ones.)
            name: "every outbox entry has its effect, every effect its run",
            sql: "SELECT 'outbox entry ' || o.id || ' has no effect ' || o.aggregate_id
                  FROM outbox_events o
                  WHERE NOT EXISTS (SELECT 1 FROM effects f
                                    WHERE f.tenant_id = o.tenant_id AND f.id = o.aggregate_id)
                  UNION ALL
                  SELECT 'effect ' || f.id || ' has no run ' || f.run_id FROM effects f
                  WHERE NOT EXISTS (SELECT 1 FROM runs r
                                    WHERE r.tenant_id = f.tenant_id AND r.id = f.run_id)"
                .into(),
        },
        DataCheck {
            // A finished run takes no change under it, and completing one
            // needs its steps and tool calls ended (operations/runs.rs).
            name: "a finished run has no live steps or tool calls",
            sql: "SELECT 'run ' || r.id || ' is ' || r.status || ' but its step ' || s.id
                         || ' is ' || s.status
                  FROM runs r JOIN steps s ON s.tenant_id = r.tenant_id AND s.run_id = r.id
                  WHERE r.status IN ('COMPLETED', 'FAILED', 'CANCELLED')
                    AND s.status IN ('PENDING', 'RUNNING')
                  UNION ALL
                  SELECT 'run ' || r.id || ' is ' || r.status || ' but its tool call ' || t.id
                         || ' is ' || t.status
                  FROM runs r JOIN steps s ON s.tenant_id = r.tenant_id AND s.run_id = r.id
                  JOIN tool_calls t ON t.tenant_id = s.tenant_id AND t.step_id = s.id
                  WHERE r.status IN ('COMPLETED', 'FAILED', 'CANCELLED')
                    AND t.status IN ('PENDING', 'RUNNING')"
                .into(),
        },
        DataCheck {
            name: "each status is what its last event implies",
            sql: format!(
                "WITH implied (event_type, status) AS (VALUES {implied})
                 {} UNION ALL {} UNION ALL {} UNION ALL {}",
                lifecycle("runs", "RUN", "run"),
                lifecycle("steps", "STEP", "step"),
                lifecycle("tool_calls", "TOOL_CALL", "tool call"),
                lifecycle("effects", "EFFECT", "effect"),
            ),
        },
        DataCheck {
            name: "retry counters equal their events",
            sql: "SELECT 'step ' || s.id || ' counts ' || s.retry_count || ' retries, its log '
                         || coalesce(n.retries, 0)
                  FROM steps s
                  LEFT JOIN (SELECT tenant_id, aggregate_id, count(*) AS retries
                             FROM orchestration_events WHERE event_type = 'STEP_RETRY_SCHEDULED'
                             GROUP BY tenant_id, aggregate_id) n
                    ON n.tenant_id = s.tenant_id AND n.aggregate_id = s.id
                  WHERE s.retry_count <> coalesce(n.retries, 0)
                  UNION ALL
                  SELECT 'effect ' || f.id || ' counts ' || f.retry_count
                         || ' failed attempts, its log ' || coalesce(n.failures, 0)
                  FROM effects f
                  LEFT JOIN (SELECT e.tenant_id, e.aggregate_id, count(*) AS failures
                             FROM orchestration_events e
                             WHERE e.event_type = 'EFFECT_FAILED'
                               AND e.sequence_number > coalesce((
                                   SELECT max(q.sequence_number) FROM orchestration_events q
                                   WHERE q.tenant_id = e.tenant_id AND q.aggregate_id = e.aggregate_id
                                     AND q.event_type = 'EFFECT_REQUEUED'), 0)
                             GROUP BY e.tenant_id, e.aggregate_id) n
                    ON n.tenant_id = f.tenant_id AND n.aggregate_id = f.id
                  WHERE f.retry_count <> coalesce(n.failures, 0)"
                .into(),
        },
        DataCheck {
            // A projection may lag; only rows refreshed after the run's last
            // step change must agree.
            name: "projected step totals equal the runtime tables",
            sql: "SELECT 'run ' || p.run_id || ': projected ' || p.steps_total || ' steps and '
                         || p.retries || ' retries, the tables hold ' || t.n || ' and ' || t.r
                  FROM run_summary p
                  CROSS JOIN LATERAL (
                      SELECT count(*) AS n, coalesce(sum(retry_count), 0) AS r,
                             max(updated_at) AS changed
                      FROM steps s WHERE s.tenant_id = p.tenant_id AND s.run_id = p.run_id) t
                  WHERE coalesce(t.changed, '-infinity') <= p.updated_at
                    AND (p.steps_total <> t.n OR p.retries <> t.r)"
                .into(),
        },
        DataCheck {
            name: "causation stays in its tenant and correlation",
            sql: "SELECT 'event ' || e.id || ' is caused by ' || e.causation_id
                         || CASE WHEN c.id IS NULL THEN ', which is not an event of its tenant'
                                 ELSE ', an event of another correlation' END
                  FROM orchestration_events e
                  LEFT JOIN orchestration_events c
                    ON c.tenant_id = e.tenant_id AND c.id = e.causation_id
                  WHERE e.causation_id IS NOT NULL
                    AND (c.id IS NULL OR c.correlation_id <> e.correlation_id)"
                .into(),
        },
        DataCheck {
            name: "each correlation has exactly one root event",
            sql: "SELECT 'correlation ' || correlation_id || ' has '
                         || count(*) FILTER (WHERE causation_id IS NULL) || ' root events'
                  FROM orchestration_events
                  GROUP BY tenant_id, correlation_id
                  HAVING count(*) FILTER (WHERE causation_id IS NULL) <> 1"
                .into(),
        },
        DataCheck {
            name: "each tenant's log is gap-free from 1, and its head is its last position",
            sql: "SELECT 'tenant ' || e.tenant_id || ': ' || count(*) || ' events at positions '
                         || min(e.sequence_number) || '..' || max(e.sequence_number)
                         || ', head ' || coalesce(max(h.last_sequence), 0)
                  FROM orchestration_events e
                  LEFT JOIN tenant_event_heads h ON h.tenant_id = e.tenant_id
                  GROUP BY e.tenant_id
                  HAVING count(*) <> max(e.sequence_number) OR min(e.sequence_number) <> 1
                      OR coalesce(max(h.last_sequence), 0) <> max(e.sequence_number)"
                .into(),
        },
        // The quotas' counts match what the outbox holds open: moved by the
        // store's statements, and on one server by migration 24's triggers
        // for what others write; each entry counts the bytes it keeps.
        DataCheck {
            name: "each tenant's pending-effect counts match its open outbox entries",
            sql: "SELECT 'tenant ' || coalesce(h.tenant_id, o.tenant_id) || ': counted '
                             || coalesce(h.pending_effects, 0) || ' pending effects of '
                             || coalesce(h.pending_bytes, 0) || ' bytes, the outbox holds '
                             || coalesce(o.n, 0) || ' of ' || coalesce(o.bytes, 0) || ' bytes'
                      FROM tenant_event_heads h
                      FULL JOIN (SELECT tenant_id, count(*) AS n,
                                        sum(coalesce(payload_bytes, 0)) AS bytes
                                 FROM outbox_events WHERE status IN ('PENDING', 'IN_FLIGHT')
                                 GROUP BY tenant_id) o ON o.tenant_id = h.tenant_id
                      WHERE coalesce(h.pending_effects, 0) <> coalesce(o.n, 0)
                         OR coalesce(h.pending_bytes, 0) <> coalesce(o.bytes, 0)"
                .into(),
        },
    ]
}

/// Runs every data check on the database the admin connection is on.
pub async fn data_check(admin: &mut Admin) -> Result<CheckReport> {
    admin.schema_verify().await?;
    if !admin.sees_every_tenant().await? {
        return Ok(CheckReport {
            results: vec![CheckResult::from_failures(
                Area::DataQuality,
                "the login sees every tenant",
                vec![
                    "row-level security hides other tenants from this login: run the data gate \
                     as a superuser or a BYPASSRLS (backup) login"
                        .into(),
                ],
                "",
            )],
        });
    }
    // One read-only transaction: one snapshot for every check, and the
    // gate's large one-off scans without JIT compilation.
    let mut tx = admin.conn().begin().await?;
    sqlx::raw_sql("SET TRANSACTION READ ONLY; SET LOCAL jit = off")
        .execute(&mut *tx)
        .await?;
    let mut results = Vec::new();
    for check in checks() {
        results.push(run_one(&mut tx, &check).await?);
    }
    tx.rollback().await?;
    Ok(CheckReport { results })
}

async fn run_one(conn: &mut PgConnection, check: &DataCheck) -> Result<CheckResult> {
    let offenders: Vec<String> = sqlx::query_scalar(&check.sql).fetch_all(conn).await?;
    let mut shown: Vec<String> = offenders.iter().take(SHOWN).cloned().collect();
    if offenders.len() > SHOWN {
        shown.push(format!("… {} in all", offenders.len()));
    }
    Ok(CheckResult::from_failures(
        Area::DataQuality,
        check.name,
        shown,
        "none",
    ))
}
