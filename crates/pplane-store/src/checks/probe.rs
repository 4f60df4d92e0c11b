//! The live part of the gate: try to cross tenants and to rewrite history,
//! and expect the database to refuse.
//!
//! Everything happens in one transaction that is always rolled back, so the
//! probe leaves nothing behind, on any database. It makes two throwaway
//! tenants A and B, writes one row of B into each runtime table, and then, as
//! `pplane_app`: reads every table as A (nothing of B's may show), inserts
//! rows carrying B's tenant_id as A (each must be refused), reads as a
//! non-member of B and with no context at all (nothing may show), and tries
//! UPDATE, DELETE and TRUNCATE on the event log as both roles.

use pplane_domain::{TenantId, UserId};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::rules::{ORCHESTRATION_TABLES, TABLES};
use super::{Area, CheckResult};

pub async fn run(conn: &mut PgConnection) -> Vec<CheckResult> {
    match probe(conn).await {
        Ok(results) => results,
        Err(err) => vec![CheckResult {
            area: Area::MultiTenancy,
            check: "live cross-tenant probe".into(),
            passed: false,
            evidence: format!("could not run: {err}"),
        }],
    }
}

/// Roles change by set_config, which Citus does not forward: a forwarded
/// SET LOCAL ROLE would be replayed on worker connections opened as another
/// role, which may not switch to it.
const ROLE_OWNER: &str = "SELECT set_config('role', 'pplane_owner', true)";

/// On Citus: forward SET LOCAL to the workers. The database's default
/// (migration 14) reaches sessions opened after it; this one may be older.
pub(super) const PROPAGATE: &str = "SET LOCAL citus.propagate_set_commands = 'local'";

struct Ids {
    a: Uuid,
    b: Uuid,
    user_a: Uuid,
    user_b: Uuid,
}

async fn probe(conn: &mut PgConnection) -> Result<Vec<CheckResult>, sqlx::Error> {
    let ids = Ids {
        a: TenantId::new().as_uuid(),
        b: TenantId::new().as_uuid(),
        user_a: UserId::new().as_uuid(),
        user_b: UserId::new().as_uuid(),
    };
    // On Citus the two tenants are committed first and deleted after: Citus
    // reaches a worker over one connection per role, so rows the owner wrote
    // in this transaction would be invisible to the policies that check them
    // as pplane_app.
    if crate::Profile::detect(&mut *conn).await? != crate::Profile::Citus {
        return probe_in(conn, &ids, false).await;
    }
    let mut setup = conn.begin().await?;
    sqlx::raw_sql(PROPAGATE).execute(&mut *setup).await?;
    for statement in tenants_sql(&ids) {
        sqlx::raw_sql(&statement).execute(&mut *setup).await?;
    }
    setup.commit().await?;
    let results = probe_in(conn, &ids, true).await;
    let removed = remove_tenants(conn, &ids).await;
    let results = results?;
    removed?;
    Ok(results)
}

/// Tenants A and B, each with its one member, written as the owner; one
/// statement a query, since Citus replays the text of a query holding a
/// SET LOCAL on its workers.
fn tenants_sql(ids: &Ids) -> Vec<String> {
    let mut out = vec![ROLE_OWNER.to_string()];
    for (tenant, user, name) in [(ids.a, ids.user_a, "A"), (ids.b, ids.user_b, "B")] {
        out.push(format!("SET LOCAL app.tenant_id = '{tenant}'"));
        out.push(format!(
            "INSERT INTO tenants (tenant_id, name) VALUES ('{tenant}', 'probe {name}')"
        ));
        out.push(format!(
            "INSERT INTO user_tenants (tenant_id, user_id) VALUES ('{tenant}', '{user}')"
        ));
    }
    out
}

/// Deletes the committed probe tenants again (Citus only).
async fn remove_tenants(conn: &mut PgConnection, ids: &Ids) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(PROPAGATE).execute(&mut *tx).await?;
    sqlx::raw_sql(ROLE_OWNER).execute(&mut *tx).await?;
    for tenant in [ids.a, ids.b] {
        sqlx::raw_sql(&format!("SET LOCAL app.tenant_id = '{tenant}'"))
            .execute(&mut *tx)
            .await?;
        for table in ["user_tenants", "tenants"] {
            sqlx::raw_sql(&format!("DELETE FROM {table} WHERE tenant_id = '{tenant}'"))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}

async fn probe_in(
    conn: &mut PgConnection,
    ids: &Ids,
    citus: bool,
) -> Result<Vec<CheckResult>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    if citus {
        sqlx::raw_sql(PROPAGATE).execute(&mut *tx).await?;
    } else {
        for statement in tenants_sql(ids) {
            sqlx::raw_sql(&statement).execute(&mut *tx).await?;
        }
    }

    act_as(&mut tx, ids.b, ids.user_b).await?;
    sqlx::raw_sql(&rows_of(ids.b, &fresh_row_ids()))
        .execute(&mut *tx)
        .await?;
    let seen_by_b = count_all(&mut tx, ids.b).await?;

    act_as(&mut tx, ids.a, ids.user_a).await?;
    let seen_by_a = count_all(&mut tx, ids.b).await?;
    let mut refused = Vec::new();
    let mut accepted = Vec::new();
    for (table, sql) in single_rows(ids.b) {
        match attempt(&mut tx, &sql).await? {
            Some(code) if code == "42501" => refused.push(table),
            Some(code) => accepted.push(format!(
                "{table}: failed with {code}, not by tenant isolation"
            )),
            None => accepted.push(format!("{table}: accepted")),
        }
    }

    act_as(&mut tx, ids.b, ids.user_a).await?;
    let seen_by_non_member = count_all(&mut tx, ids.b).await?;
    sqlx::raw_sql("SET LOCAL app.tenant_id = ''; SET LOCAL app.user_id = ''")
        .execute(&mut *tx)
        .await?;
    let seen_without_context = count_all(&mut tx, ids.b).await?;

    act_as(&mut tx, ids.b, ids.user_b).await?;
    let mut rewrites = Vec::new();
    for role in ["pplane_app", "pplane_owner"] {
        sqlx::raw_sql(&format!("SELECT set_config('role', '{role}', true)"))
            .execute(&mut *tx)
            .await?;
        for stmt in [
            "UPDATE orchestration_events SET event_type = event_type",
            "DELETE FROM orchestration_events",
            "TRUNCATE orchestration_events",
        ] {
            let verb = stmt.split_whitespace().next().unwrap_or_default();
            rewrites.push((role, verb, attempt(&mut tx, stmt).await?));
        }
    }
    tx.rollback().await?;

    let leaked: Vec<String> = seen_by_a
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{t}: {n} row(s) of B visible to A"))
        .collect();
    let mut isolation_failures = leaked;
    let b_rows: i64 = seen_by_b.iter().map(|(_, n)| n).sum();
    if b_rows < TABLES.len() as i64 {
        isolation_failures.push(format!(
            "tenant B saw only {b_rows} of its own rows; the probe proves nothing"
        ));
    }
    let blind = |counts: &[(String, i64)], who: &str| -> Vec<String> {
        counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{who} sees {n} row(s) of {t}"))
            .collect()
    };
    let mut context_failures = blind(&seen_by_non_member, "a non-member");
    context_failures.extend(blind(&seen_without_context, "a session with no context"));
    let rewrite_failures: Vec<String> = rewrites
        .iter()
        .filter(|(_, _, outcome)| outcome.is_none())
        .map(|(role, verb, _)| format!("{verb} succeeded as {role}"))
        .collect();

    Ok(vec![
        CheckResult::from_failures(
            Area::MultiTenancy,
            "live probe: tenant A reads none of tenant B's rows",
            isolation_failures,
            format!(
                "B sees its {b_rows} rows in {} tables; A sees 0",
                TABLES.len()
            ),
        ),
        CheckResult::from_failures(
            Area::MultiTenancy,
            "live probe: inserts carrying another tenant's id are refused",
            accepted,
            format!("refused (42501) on {}", refused.join(", ")),
        ),
        CheckResult::from_failures(
            Area::MultiTenancy,
            "live probe: a non-member or a missing context sees nothing",
            context_failures,
            "0 rows in every table",
        ),
        CheckResult::from_failures(
            Area::AppendOnly,
            "live probe: UPDATE, DELETE, TRUNCATE of events fail for app and owner",
            rewrite_failures,
            rewrites
                .iter()
                .map(|(role, verb, code)| {
                    format!("{verb} as {role}: {}", code.as_deref().unwrap_or("-"))
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ])
}

async fn act_as(conn: &mut PgConnection, tenant: Uuid, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("SELECT set_config('role', 'pplane_app', true)")
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(&format!(
        "SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{user}'"
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Runs `sql` in a savepoint; returns the SQLSTATE it failed with, or None if
/// it succeeded (and undoes it either way).
async fn attempt(conn: &mut PgConnection, sql: &str) -> Result<Option<String>, sqlx::Error> {
    let mut sp = conn.begin().await?;
    let outcome = sqlx::raw_sql(sql).execute(&mut *sp).await;
    sp.rollback().await?;
    Ok(match outcome {
        Ok(_) => None,
        Err(err) => Some(
            err.as_database_error()
                .and_then(|e| e.code().map(|c| c.into_owned()))
                .unwrap_or_else(|| err.to_string()),
        ),
    })
}

/// Rows of `tenant` visible in each table under the current context.
async fn count_all(
    conn: &mut PgConnection,
    tenant: Uuid,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut counts = Vec::new();
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE tenant_id = $1"
        ))
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await?;
        counts.push((table.to_owned(), n));
    }
    Ok(counts)
}

/// The ids of one row in each runtime table, chained parent to child.
#[derive(Debug, Clone, Copy)]
pub struct RowIds {
    pub signal: Uuid,
    pub run: Uuid,
    pub step: Uuid,
    pub effect: Uuid,
    pub tool_call: Uuid,
    pub checkpoint: Uuid,
    pub event: Uuid,
    pub outbox: Uuid,
    pub correlation: Uuid,
}

impl RowIds {
    /// (table, id) for each of the eight runtime tables.
    pub fn by_table(&self) -> [(&'static str, Uuid); 8] {
        [
            ("signals", self.signal),
            ("runs", self.run),
            ("steps", self.step),
            ("effects", self.effect),
            ("tool_calls", self.tool_call),
            ("run_checkpoints", self.checkpoint),
            ("orchestration_events", self.event),
            ("outbox_events", self.outbox),
        ]
    }
}

pub fn fresh_row_ids() -> RowIds {
    RowIds {
        signal: Uuid::now_v7(),
        run: Uuid::now_v7(),
        step: Uuid::now_v7(),
        effect: Uuid::now_v7(),
        tool_call: Uuid::now_v7(),
        checkpoint: Uuid::now_v7(),
        event: Uuid::now_v7(),
        outbox: Uuid::now_v7(),
        correlation: Uuid::now_v7(),
    }
}

/// INSERTs of one row per runtime table, a complete chain signal -> run ->
/// step -> ...; to run as pplane_app in `t`'s context.
pub fn rows_of(t: Uuid, r: &RowIds) -> String {
    let audit = format!("'{}', NULL, 'system:schema-probe'", r.correlation);
    let key = format!("probe-{}", r.effect);
    format!(
        "INSERT INTO signals (tenant_id, id, source_channel, source_id, correlation_id, causation_id, actor)
             VALUES ('{t}', '{s}', 'probe', '{s}', {audit});
         INSERT INTO runs (tenant_id, id, signal_id, correlation_id, causation_id, actor)
             VALUES ('{t}', '{run}', '{s}', {audit});
         INSERT INTO steps (tenant_id, id, run_id, step_index, step_type, correlation_id, causation_id, actor)
             VALUES ('{t}', '{step}', '{run}', 0, 'probe', {audit});
         INSERT INTO effects (tenant_id, id, run_id, effect_type, effect_spec, idempotency_key, correlation_id, causation_id, actor)
             VALUES ('{t}', '{eff}', '{run}', 'PROBE', '{{\"idempotency_key\": \"{key}\"}}', '{key}', {audit});
         INSERT INTO tool_calls (tenant_id, id, step_id, tool_name, correlation_id, causation_id, actor)
             VALUES ('{t}', '{tc}', '{step}', 'probe', {audit});
         INSERT INTO run_checkpoints (tenant_id, id, run_id, event_sequence, state, correlation_id, causation_id, actor)
             VALUES ('{t}', '{cp}', '{run}', 1, '{{}}', {audit});
         INSERT INTO orchestration_events (tenant_id, id, sequence_number, event_type, aggregate_type, aggregate_id,
                                           aggregate_version, correlation_id, causation_id, actor)
             VALUES ('{t}', '{ev}', 1, 'SIGNAL_RECEIVED', 'SIGNAL', '{s}', 1, {audit});
         INSERT INTO outbox_events (tenant_id, id, event_type, aggregate_id, payload, idempotency_key, correlation_id, causation_id, actor)
             VALUES ('{t}', '{ob}', 'PROBE', '{eff}', '{{}}', '{key}', {audit});",
        s = r.signal,
        run = r.run,
        step = r.step,
        eff = r.effect,
        tc = r.tool_call,
        cp = r.checkpoint,
        ev = r.event,
        ob = r.outbox,
    )
}

/// One INSERT per table, each carrying `tenant`'s id, to run as another tenant.
fn single_rows(tenant: Uuid) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        (
            "tenants",
            format!("INSERT INTO tenants (tenant_id, name) VALUES ('{tenant}', 'intruder')"),
        ),
        (
            "user_tenants",
            format!(
                "INSERT INTO user_tenants (tenant_id, user_id) VALUES ('{tenant}', '{}')",
                Uuid::now_v7()
            ),
        ),
    ];
    let statements = rows_of(tenant, &fresh_row_ids());
    for (table, stmt) in ORCHESTRATION_TABLES
        .iter()
        .zip(statements.split(";\n").filter(|s| !s.trim().is_empty()))
    {
        rows.push((table, stmt.trim().trim_end_matches(';').to_owned()));
    }
    rows
}
