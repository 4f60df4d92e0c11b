//! Rate limits: a key over its rate gets 429 with `Retry-After` and the
//! `RateLimit` fields, without a database round trip, while another
//! tenant's requests keep their latency; a tenant's keys share its bucket;
//! a forged key never drains anyone's. Quotas: a tenant past its pending
//! effects (429) or their bytes (413) is refused with nothing written.

use std::time::{Duration, Instant};

use pplane_domain::ApiScope;
use pplane_server::limits::{Limits, Rate};
use pplane_server::Options;
use pplane_store::operations::api_keys::{api_key_rate_set, KeyRate};

use crate::support::{forged, Answer, Client, Served};

fn limits(key: (f64, u32), tenant: (f64, u32)) -> Options {
    Options {
        limits: Limits {
            key: Rate {
                per_s: key.0,
                burst: key.1,
            },
            tenant: Rate {
                per_s: tenant.0,
                burst: tenant.1,
            },
        },
        ..Default::default()
    }
}

async fn read(client: &Client) -> Answer {
    client.get("/v1/events?limit=1").await
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", answer.headers))
        .to_str()
        .unwrap()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Requests one every 100 ms (half the key's rate) for `n`: their
/// latencies, all answered 200.
async fn paced(client: &Client, n: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let got = read(client).await;
        times.push(started.elapsed());
        assert_eq!(got.status, 200, "{:?}", got.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    times
}

#[tokio::test]
async fn a_key_flooding_at_ten_times_its_rate_is_refused_while_another_tenant_keeps_its_latency() {
    let served = Served::start_with(limits((20.0, 10), (40.0, 20))).await;
    let noisy = served.tenant(ApiScope::Read).await;
    let quiet = served.tenant(ApiScope::Read).await;
    let alone = median(paced(&quiet, 15).await);

    // 200 requests a second for 2 s, from 8 connections: ten times the key's rate.
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let noisy = noisy.clone();
            tokio::spawn(async move {
                let (mut admitted, mut refused) = (0u32, Vec::new());
                let mut tick = tokio::time::interval(Duration::from_millis(40));
                for _ in 0..50 {
                    tick.tick().await;
                    let got = read(&noisy).await;
                    match got.status.as_u16() {
                        200 => admitted += 1,
                        429 => refused.push(got),
                        other => panic!("{other}: {:?}", got.body),
                    }
                }
                (admitted, refused)
            })
        })
        .collect();
    let during = median(paced(&quiet, 15).await);
    let mut flooded = Vec::new();
    for loop_ in flood {
        flooded.push(loop_.await.unwrap());
    }
    let admitted: u32 = flooded.iter().map(|(a, _)| a).sum();
    let refused: Vec<&Answer> = flooded.iter().flat_map(|(_, r)| r).collect();
    // The burst, then about the rate: never the 400 asked for.
    assert!(
        (10..=10 + 2 * 20 + 10).contains(&admitted),
        "{admitted} admitted"
    );
    assert!(refused.len() >= 300, "{} refused", refused.len());
    let first = refused[0];
    let problem = &first.body;
    assert_eq!(problem["type"], "urn:pplane:problem:too-many-requests");
    assert_eq!(problem["status"], 429);
    assert!(
        problem["detail"].as_str().unwrap().contains("key"),
        "{problem}"
    );
    let retry: u64 = header(first, "retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        header(first, "ratelimit-policy"),
        "\"key\";q=10;w=1, \"tenant\";q=20;w=1"
    );
    assert!(
        header(first, "ratelimit").starts_with("\"key\";r=0;t="),
        "{}",
        header(first, "ratelimit")
    );
    // The other tenant's requests were all answered, about as fast.
    let ratio = during.as_secs_f64() / alone.as_secs_f64();
    println!("quiet tenant p50: alone {alone:?}, beside the flood {during:?}, ratio {ratio:.2}");
    assert!(ratio < 3.0, "alone {alone:?}, beside the flood {during:?}");
    served.stop().await;
}

#[tokio::test]
async fn a_refusal_needs_no_database_and_every_answer_says_where_the_key_stands() {
    // Slow refills (a token every 5 s): nothing comes back while it runs.
    let served = Served::start_with(limits((0.2, 3), (100.0, 100))).await;
    let client = served.tenant(ApiScope::Read).await;
    let first = read(&client).await;
    assert_eq!(first.status, 200);
    // Charged after the fact: the key's first request verified it.
    assert_eq!(
        header(&first, "ratelimit"),
        "\"key\";r=2;t=5, \"tenant\";r=99;t=1"
    );
    for _ in 0..2 {
        assert_eq!(read(&client).await.status, 200);
    }
    // The pool closed: anything that reaches the database now fails, and
    // a request over the limit is still refused as such.
    served.store.close().await;
    let refused = read(&client).await;
    refused.problem(429, "too-many-requests");
}

#[tokio::test]
async fn a_tenants_keys_share_its_bucket_and_a_key_may_have_its_own_rate() {
    let served = Served::start_with(limits((100.0, 100), (0.2, 6))).await;
    let a = served.tenant(ApiScope::Read).await;
    let b = served.client(a.tenant, a.user, ApiScope::Read).await;
    for c in [&a, &b, &a, &b, &a, &b] {
        assert_eq!(read(c).await.status, 200);
    }
    let refused = read(&a).await;
    assert!(
        refused.body["detail"].as_str().unwrap().contains("tenant"),
        "{:?}",
        refused.body
    );
    refused.problem(429, "too-many-requests");

    // Another tenant: one key limited to 2 at once, one at the default.
    let c = served.tenant(ApiScope::Read).await;
    let d = served.client(c.tenant, c.user, ApiScope::Read).await;
    let mut tx = served.store.tenant_tx(c.tenant, c.user).await.unwrap();
    api_key_rate_set(
        &mut tx,
        c.key_id,
        Some(KeyRate {
            per_s: 0.1,
            burst: 2,
        }),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut got = Vec::new();
    for k in [&c, &c, &c, &d] {
        got.push(read(k).await.status.as_u16());
    }
    assert_eq!(got, [200, 200, 429, 200]);
    let policy = read(&c).await;
    assert_eq!(
        header(&policy, "ratelimit-policy"),
        "\"key\";q=2;w=20, \"tenant\";q=6;w=30"
    );
    // Refusing a bad rate writes nothing.
    let mut tx = served.store.tenant_tx(c.tenant, c.user).await.unwrap();
    let bad = api_key_rate_set(
        &mut tx,
        c.key_id,
        Some(KeyRate {
            per_s: 0.0,
            burst: 2,
        }),
    )
    .await;
    assert!(bad.is_err());
    served.stop().await;
}

#[tokio::test]
async fn forged_keys_naming_a_tenant_never_drain_its_bucket() {
    let served = Served::start_with(limits((100.0, 100), (0.2, 3))).await;
    let victim = served.tenant(ApiScope::Read).await;
    let forger = victim.with_key(&forged(victim.key.as_deref().unwrap()));
    for _ in 0..20 {
        forger
            .get("/v1/events?limit=1")
            .await
            .problem(401, "unauthorized");
    }
    for _ in 0..3 {
        assert_eq!(read(&victim).await.status, 200);
    }
    served.stop().await;
}

/// Quotas over HTTP: past its pending effects a tenant's request is 429,
/// past their bytes 413, both `quota-exceeded`, with nothing written; the
/// other tenants' requests pass.
#[tokio::test]
async fn a_tenant_over_its_quotas_is_refused_with_nothing_written() {
    let served = Served::start().await;
    let op = served.tenant(ApiScope::Operator).await;
    let other = served.tenant(ApiScope::Operator).await;
    let run = op.started_run_with_destination().await;
    let other_run = other.started_run_with_destination().await;
    served
        .store
        .tenant_quota_set(op.tenant, Some(2), Some(2_000))
        .await
        .unwrap();
    let effect = |key: &str, to: String| {
        serde_json::json!({ "effect_type": "E", "idempotency_key": key,
                            "destination": "d", "spec": { "to": to } })
    };
    let path = format!("/v1/runs/{run}/effects");
    op.post(&path, effect("a", "x".into())).await.expect(201);
    // Random text does not compress: stored at about its length.
    let big: String = (0..3_000)
        .map(|i| char::from(b'a' + ((i * 7919) % 26) as u8))
        .collect();
    let before = written(&served, &op).await;
    let refused = op
        .post(&path, effect("big", big))
        .await
        .problem(413, "quota-exceeded");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("bytes of pending effect payloads"),
        "{refused}"
    );
    op.post(&path, effect("b", "y".into())).await.expect(201);
    let refused = op
        .post(&path, effect("c", "z".into()))
        .await
        .problem(429, "quota-exceeded");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("3 pending effects, over its quota of 2"),
        "{refused}"
    );
    let after = written(&served, &op).await;
    assert_eq!(
        after,
        before.map(|n| n + 1),
        "only b's request wrote its event, effect and entry"
    );
    let pending = op.get("/v1/outbox/stats").await.expect(200);
    assert_eq!(pending["pending"], 2);
    // Another tenant is not held to this one's quota.
    other
        .post(
            &format!("/v1/runs/{other_run}/effects"),
            effect("c", "z".into()),
        )
        .await
        .expect(201);
    assert_eq!(written(&served, &other).await[1], 1);
}

/// How many events, effects and outbox entries the client's tenant has.
async fn written(served: &Served, client: &Client) -> [i64; 3] {
    let mut counts = [0; 3];
    for (n, table) in counts
        .iter_mut()
        .zip(["orchestration_events", "effects", "outbox_events"])
    {
        let sql = format!(
            "SELECT count(*) FROM {table} WHERE tenant_id = '{}'",
            client.tenant
        );
        *n = served.db.scalar(&sql).await;
    }
    counts
}
