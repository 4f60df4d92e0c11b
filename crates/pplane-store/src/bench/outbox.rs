//! The raw baseline of `pplane bench outbox`: a bare queue on the same
//! server, claimed with SKIP LOCKED and completed, with no tenant context,
//! no row-level security, no events and no delivery. The worker crate runs
//! our side and compares.

use std::time::{Duration, Instant};

use sqlx::{Executor, PgPool};

use super::Samples;
use crate::{Admin, Result};

/// A plain queue table in the scratch database.
pub struct RawQueue {
    pool: PgPool,
}

impl RawQueue {
    pub async fn create(url: &str, connections: u32) -> Result<RawQueue> {
        let mut admin = Admin::connect(url).await?;
        sqlx::raw_sql(
            "DROP TABLE IF EXISTS bench_outbox_raw;
             CREATE TABLE bench_outbox_raw (
                 id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 payload     jsonb       NOT NULL,
                 status      text        NOT NULL DEFAULT 'PENDING',
                 enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                 done_at     timestamptz);
             CREATE INDEX bench_outbox_raw_due ON bench_outbox_raw (id) WHERE status = 'PENDING';",
        )
        .execute(admin.conn())
        .await?;
        admin.close().await?;
        let pool = crate::store::pool_options()
            .max_connections(connections + 2)
            .connect(url)
            .await?;
        Ok(RawQueue { pool })
    }

    /// Enqueues `n` rows at once (a backlog).
    pub async fn fill(&self, n: i64) -> Result<()> {
        self.pool.execute("TRUNCATE bench_outbox_raw").await?;
        sqlx::query(
            "INSERT INTO bench_outbox_raw (payload)
             SELECT jsonb_build_object('n', g, 'destination', 'sink') FROM generate_series(1, $1) g",
        )
        .bind(n)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Enqueues one row in its own transaction.
    pub async fn push(&self) -> Result<()> {
        sqlx::query(
            "INSERT INTO bench_outbox_raw (payload) VALUES ('{\"destination\": \"sink\"}')",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `loops` concurrent claim-and-complete loops until the queue is empty
    /// (or, with `until`, until then); returns each row's time from enqueue
    /// to completion and the wall time.
    pub async fn drain(&self, loops: u32, batch: i64, until: Option<Instant>) -> Result<Samples> {
        let started = Instant::now();
        let tasks: Vec<_> = (0..loops)
            .map(|_| {
                let pool = self.pool.clone();
                tokio::spawn(async move { claim_loop(pool, batch, until).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("raw claim loop")?;
        }
        let wall = started.elapsed();
        let latencies: Vec<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM done_at - enqueued_at)::float8 FROM bench_outbox_raw
             WHERE done_at IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Samples::concurrent(
            latencies.into_iter().map(Duration::from_secs_f64).collect(),
            wall,
        ))
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

async fn claim_loop(pool: PgPool, batch: i64, until: Option<Instant>) -> Result<()> {
    loop {
        let mut tx = pool.begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "WITH c AS MATERIALIZED (
                 SELECT id FROM bench_outbox_raw WHERE status = 'PENDING'
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
             UPDATE bench_outbox_raw q SET status = 'IN_FLIGHT' FROM c WHERE q.id = c.id
             RETURNING q.id",
        )
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        if ids.is_empty() {
            match until {
                Some(end) if Instant::now() < end => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                _ => return Ok(()),
            }
        }
        sqlx::query(
            "UPDATE bench_outbox_raw SET status = 'DONE', done_at = clock_timestamp()
             WHERE id = ANY($1)",
        )
        .bind(&ids)
        .execute(&pool)
        .await?;
    }
}

/// Vacuums the outbox and the tables its settlements write, so that two
/// phases compared with each other start alike: the second would otherwise
/// claim through the first's dead index entries.
pub async fn outbox_vacuum(url: &str) -> Result<()> {
    let mut admin = Admin::connect(url).await?;
    sqlx::raw_sql(
        "VACUUM (ANALYZE) outbox_events, effects, orchestration_events, tenant_event_heads",
    )
    .execute(admin.conn())
    .await?;
    admin.close().await?;
    Ok(())
}
