//! Benchmarks that measure the plane against a raw baseline on the same
//! server in the same run, and report the ratio. They work in a scratch
//! database of their own, created next to the target database and dropped
//! afterwards, so they never touch real data.

pub mod append;
pub mod cleanup;
pub mod message_db;
pub mod outbox;
pub mod rls;
pub mod trace;

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use crate::admin::ScratchDb;

/// One scenario: our figures, the raw baseline's, and their ratio.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub scenario: String,
    pub concurrency: u32,
    pub tenants: Option<u32>,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub per_s: f64,
    pub raw_p50_ms: f64,
    pub raw_p99_ms: f64,
    pub raw_p999_ms: f64,
    pub raw_per_s: f64,
    /// Our throughput over the raw baseline's (1.0 = as fast as raw).
    pub ratio: f64,
}

impl BenchRow {
    pub fn new(
        scenario: impl Into<String>,
        concurrency: u32,
        tenants: Option<u32>,
        ours: &Samples,
        raw: &Samples,
    ) -> Self {
        BenchRow {
            scenario: scenario.into(),
            concurrency,
            tenants,
            p50_ms: ours.percentile_ms(50.0),
            p95_ms: ours.percentile_ms(95.0),
            p99_ms: ours.percentile_ms(99.0),
            p999_ms: ours.percentile_ms(99.9),
            per_s: ours.per_second(),
            raw_p50_ms: raw.percentile_ms(50.0),
            raw_p99_ms: raw.percentile_ms(99.0),
            raw_p999_ms: raw.percentile_ms(99.9),
            raw_per_s: raw.per_second(),
            ratio: ours.per_second() / raw.per_second(),
        }
    }
}

/// Latencies of one side of a scenario, and the wall-clock time they took
/// when they ran concurrently.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    latencies: Vec<Duration>,
    wall: Option<Duration>,
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.latencies.push(d);
    }

    /// Samples of concurrent work that took `wall` from first start to last end.
    pub fn concurrent(latencies: Vec<Duration>, wall: Duration) -> Samples {
        Samples {
            latencies,
            wall: Some(wall),
        }
    }

    /// Two measurements of the same work, taken apart in time, as one: their
    /// samples together over both walls (a rate measured before and after
    /// something else, so that the machine's drift between them cancels).
    pub fn joined(self, other: Samples) -> Samples {
        let wall = match (self.wall, other.wall) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        let mut latencies = self.latencies;
        latencies.extend(other.latencies);
        Samples { latencies, wall }
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank].as_secs_f64() * 1000.0
    }

    /// Operations per second: over the wall-clock time for concurrent work,
    /// over the busy time for work done one at a time.
    pub fn per_second(&self) -> f64 {
        let total: Duration = self.wall.unwrap_or_else(|| self.latencies.iter().sum());
        if total.is_zero() {
            0.0
        } else {
            self.latencies.len() as f64 / total.as_secs_f64()
        }
    }
}

/// Runs `clients` concurrent loops of `op(client, iteration)` for
/// `duration`. Each call returns the latencies it measured: its own (see
/// [`timed`]), or those of the calls it made in turn.
pub async fn concurrently<F, Fut>(clients: u32, duration: Duration, op: F) -> crate::Result<Samples>
where
    F: Fn(u32, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = crate::Result<Vec<Duration>>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0usize;
                while Instant::now() < deadline {
                    latencies.extend(op(c, i).await?);
                    i += 1;
                }
                Ok::<_, crate::StoreError>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        let latencies = t
            .await
            .map_err(|e| crate::StoreError::Internal(format!("bench client: {e}")))??;
        all.extend(latencies);
    }
    Ok(Samples::concurrent(all, started.elapsed()))
}

/// One call, timed whole.
pub async fn timed(call: impl Future<Output = crate::Result<()>>) -> crate::Result<Vec<Duration>> {
    let t = Instant::now();
    call.await?;
    Ok(vec![t.elapsed()])
}
