//! What row-level security costs a query: the same statements on the same
//! rows, once on `signals` under its policies and once on an identical copy
//! without row-level security, both as `pplane_app` in a tenant context,
//! interleaved so that noise hits both sides alike.

use std::time::Instant;

use pplane_domain::{TenantId, UserId};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{BenchRow, Samples, ScratchDb};
use crate::{Admin, Result, Store};

#[derive(Debug, Clone, Copy)]
pub struct RlsBench {
    pub tenants: u32,
    pub rows_per_tenant: u32,
    pub iterations: u32,
}

impl Default for RlsBench {
    fn default() -> Self {
        RlsBench {
            tenants: 20,
            rows_per_tenant: 10_000,
            iterations: 300,
        }
    }
}

struct Scenario {
    name: &'static str,
    ours: &'static str,
    raw: &'static str,
}

/// `$1` is the tenant, `$2` a correlation id of that tenant.
const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "rls: count one tenant's signals (tenant filter)",
        ours: "SELECT count(*) FROM signals WHERE tenant_id = $1 AND $2::uuid IS NOT NULL",
        raw: "SELECT count(*) FROM bench_signals_raw WHERE tenant_id = $1 AND $2::uuid IS NOT NULL",
    },
    Scenario {
        name: "rls: count signals, policy as the only filter",
        ours: "SELECT count(*) FROM signals WHERE $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL",
        raw: "SELECT count(*) FROM bench_signals_raw WHERE tenant_id = $1 AND $2::uuid IS NOT NULL",
    },
    Scenario {
        name: "rls: signal by correlation id (debugging step 1)",
        ours: "SELECT * FROM signals WHERE correlation_id = $2 AND $1::uuid IS NOT NULL",
        raw: "SELECT * FROM bench_signals_raw WHERE tenant_id = $1 AND correlation_id = $2",
    },
];

pub async fn run(url: &str, cfg: RlsBench, progress: impl Fn(&str)) -> Result<Vec<BenchRow>> {
    progress("creating a scratch database");
    let scratch = ScratchDb::create(url).await?;
    let result = measure(&scratch.url, cfg, &progress).await;
    scratch.drop_now().await?;
    result
}

async fn measure(url: &str, cfg: RlsBench, progress: &impl Fn(&str)) -> Result<Vec<BenchRow>> {
    let store = Store::connect(url).await?;
    let mut tenants: Vec<(TenantId, UserId, Uuid)> = Vec::new();
    for i in 0..cfg.tenants {
        let user = UserId::new();
        let tenant = store.tenant_create(&format!("bench {i}"), user).await?;
        tenants.push((tenant, user, Uuid::nil()));
    }
    store.close().await;

    let mut admin = Admin::connect(url).await?;
    let conn = admin.conn();
    sqlx::raw_sql(
        "SET ROLE pplane_owner;
         CREATE TABLE bench_signals_raw (LIKE signals INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
         GRANT SELECT, INSERT ON bench_signals_raw TO pplane_app;
         RESET ROLE;",
    )
    .execute(&mut *conn)
    .await?;
    progress(&format!(
        "loading {} tenants x {} signals",
        cfg.tenants, cfg.rows_per_tenant
    ));
    for (tenant, user, sample) in tenants.iter_mut() {
        let mut tx = in_context(conn, *tenant, *user).await?;
        sqlx::query(
            "INSERT INTO signals (tenant_id, id, source_channel, source_id, correlation_id, actor)
             SELECT $1, gen_random_uuid(), 'bench', 's' || g, gen_random_uuid(), 'system:bench'
             FROM generate_series(1, $2) g",
        )
        .bind(tenant.as_uuid())
        .bind(cfg.rows_per_tenant as i32)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO bench_signals_raw SELECT * FROM signals WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .execute(&mut *tx)
            .await?;
        *sample =
            sqlx::query_scalar("SELECT correlation_id FROM signals WHERE tenant_id = $1 LIMIT 1")
                .bind(tenant.as_uuid())
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
    }
    sqlx::raw_sql("SET ROLE pplane_owner; ANALYZE; RESET ROLE")
        .execute(&mut *conn)
        .await?;

    let mut rows = Vec::new();
    for scenario in &SCENARIOS {
        progress(scenario.name);
        let (mut ours, mut raw) = (Samples::default(), Samples::default());
        for i in 0..cfg.iterations + 20 {
            let (tenant, user, correlation) = tenants[i as usize % tenants.len()];
            let mut tx = in_context(conn, tenant, user).await?;
            // Alternate which side goes first, so neither always gets the warm cache.
            let order = if i % 2 == 0 {
                [scenario.ours, scenario.raw]
            } else {
                [scenario.raw, scenario.ours]
            };
            for sql in order {
                let start = Instant::now();
                let fetched = sqlx::query(sql)
                    .bind(tenant.as_uuid())
                    .bind(correlation)
                    .fetch_all(&mut *tx)
                    .await?;
                let elapsed = start.elapsed();
                assert!(
                    !fetched.is_empty(),
                    "a benchmark query found nothing: {sql}"
                );
                if i >= 20 {
                    if sql == scenario.ours {
                        ours.push(elapsed)
                    } else {
                        raw.push(elapsed)
                    }
                }
            }
            tx.rollback().await?;
        }
        rows.push(BenchRow::new(
            scenario.name,
            1,
            Some(cfg.tenants),
            &ours,
            &raw,
        ));
    }
    admin.close().await?;
    Ok(rows)
}

async fn in_context(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>> {
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(&format!(
        "SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{user}'"
    ))
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}
