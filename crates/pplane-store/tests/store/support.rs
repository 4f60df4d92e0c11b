//! Helpers shared by the feature modules.

use pplane_domain::delivery::{http_attempt, Backoff};
use pplane_domain::{Actor, RunId, TenantId, UserId};
use pplane_store::operations::delivery::{delivery_settle, Settled};
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::ingest::{Ingested, SignalInput};
use pplane_store::operations::runs::run_start;
use pplane_store::operations::steps::StepInput;
use pplane_store::operations::{Changed, Origin};
use pplane_store::repositories::outbox::{outbox_claim, ClaimSize, Claimed, Rotation};
use pplane_store::testing::signal_ingest_alone;
use pplane_store::{Admin, Store, TenantTx};

/// The schema of a database as `pg_dump` prints it: every table, column,
/// constraint, index, trigger, policy, function, grant and owner.
pub fn schema_dump(url: &str) -> String {
    pplane_cluster::dump::schema_dump(url).expect("pg_dump --schema-only")
}

/// Asserts two dumps are equal, showing the first difference rather than
/// two whole dumps.
pub fn assert_same_schema(left: &str, right: &str) {
    if left == right {
        return;
    }
    let (l, r): (Vec<_>, Vec<_>) = (left.lines().collect(), right.lines().collect());
    let at = l
        .iter()
        .zip(&r)
        .position(|(a, b)| a != b)
        .unwrap_or(l.len().min(r.len()));
    panic!(
        "schemas differ at line {at}:\n  before: {:?}\n  after:  {:?}",
        l.get(at),
        r.get(at)
    );
}

/// Runs `sql` as pplane_app with a tenant context, in a transaction that is
/// rolled back; returns the SQLSTATE it failed with, if it failed.
pub async fn as_app(
    admin: &mut Admin,
    tenant: TenantId,
    user: UserId,
    sql: &str,
) -> Result<u64, String> {
    run_as(admin, "pplane_app", Some((tenant, user)), sql).await
}

/// Runs `sql` as `role` (with a tenant context, if given) in a transaction
/// that is rolled back; returns the rows affected or the SQLSTATE.
pub async fn run_as(
    admin: &mut Admin,
    role: &str,
    ctx: Option<(TenantId, UserId)>,
    sql: &str,
) -> Result<u64, String> {
    let mut tx = begin_as(admin, role, ctx).await;
    let result = sqlx::raw_sql(sql).execute(&mut *tx).await;
    tx.rollback().await.unwrap();
    result.map(|r| r.rows_affected()).map_err(|e| {
        e.as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned())
            .unwrap_or_else(|| e.to_string())
    })
}

/// Runs `sql` as the login role and commits it.
pub async fn exec(admin: &mut Admin, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(admin.conn())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A number from the first column of the first row, read as `role`.
pub async fn scalar_as(
    admin: &mut Admin,
    role: &str,
    ctx: Option<(TenantId, UserId)>,
    sql: &str,
) -> i64 {
    let mut tx = begin_as(admin, role, ctx).await;
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.rollback().await.unwrap();
    n
}

async fn begin_as<'c>(
    admin: &'c mut Admin,
    role: &str,
    ctx: Option<(TenantId, UserId)>,
) -> sqlx::Transaction<'c, sqlx::Postgres> {
    use sqlx::Connection;
    let mut tx = admin.conn().begin().await.unwrap();
    let mut setup = format!("SET LOCAL ROLE {role};");
    if let Some((t, u)) = ctx {
        setup.push_str(&format!(
            "SET LOCAL app.tenant_id = '{t}'; SET LOCAL app.user_id = '{u}';"
        ));
    }
    sqlx::raw_sql(&setup).execute(&mut *tx).await.unwrap();
    tx
}

/// The agent most specs act as.
pub fn agent() -> Origin {
    Origin::by("agent:planner".parse::<Actor>().unwrap())
}

/// A signal from `source` on the chat channel, with empty payload and refs.
pub async fn ingest(store: &Store, tenant: TenantId, user: UserId, source: &str) -> Ingested {
    let input = SignalInput {
        channel: "chat".into(),
        source_id: source.into(),
        payload: serde_json::json!({}),
        domain_refs: serde_json::json!({}),
        actor: "user:alice".parse().unwrap(),
    };
    signal_ingest_alone(store, tenant, user, &input)
        .await
        .unwrap()
        .into_value()
}

/// A started run of a new signal in a tenant with a webhook destination
/// named `hook` (to a port nothing listens on): where effects can be asked.
pub async fn hooked_run(store: &Store, tenant: TenantId, user: UserId) -> RunId {
    let source = uuid::Uuid::now_v7().to_string();
    let run = ingest(store, tenant, user, &source).await.run_id;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let hook = Target::Webhook("http://127.0.0.1:9/h".into());
    destination_create(&mut tx, "hook", &hook).await.unwrap();
    run_start(&mut tx, run, &agent()).await.unwrap();
    tx.commit().await.unwrap();
    run
}

/// A step of `step_type` after the run's last one.
pub fn step_input(step_type: &str) -> StepInput {
    StepInput {
        step_type: step_type.into(),
        step_index: None,
        input: None,
    }
}

/// The actor the outbox worker records as.
pub fn outbox_worker() -> Actor {
    "system:outbox-worker".parse().unwrap()
}

/// Up to `limit` due entries of the first tenant in turn, claimed by
/// `owner` for `lease_ms` and committed, as a worker's claim.
pub async fn claim(store: &Store, owner: &str, limit: u32, lease_ms: i64) -> Vec<Claimed> {
    let mut tx = store.dispatch_tx().await.unwrap();
    let size = ClaimSize::one_tenant(limit);
    let claimed = outbox_claim(tx.conn(), &Rotation::default(), owner, size, lease_ms)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    claimed
}

/// Settles `entry`'s attempt as the worker does when its receiver answered
/// 204; None if the attempt is no longer the entry's.
pub async fn settle_delivered(tx: &mut TenantTx, entry: &Claimed) -> Option<Changed<Settled>> {
    let ok = http_attempt(204, None);
    let verdict = ok.verdict(entry.attempt as u32, &Backoff::default(), 0.5);
    delivery_settle(tx, entry, &ok, &verdict, &outbox_worker())
        .await
        .unwrap()
}
