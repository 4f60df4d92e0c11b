//! Webhook delivery: signed, keyed, once per entry, woken by the request's
//! own commit.

use std::time::Duration;

use pplane_store::operations::destinations::Target;
use pplane_worker::receiver::Receiver;
use pplane_worker::WorkerConfig;

use crate::support::{eventually, keys, notified_only, quick, Plane};

#[tokio::test]
async fn each_effect_arrives_once_signed_and_keyed() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    let secret = plane
        .destination("orders", Target::Webhook(receiver.url("/hooks/orders")))
        .await
        .unwrap();
    receiver.trust(&secret);
    let keys = keys("ship", 5);
    plane.request("orders", &keys).await;

    let tally = plane.drain(quick(3)).await;
    assert_eq!((tally.claimed, tally.delivered), (5, 5));

    let got = receiver.received();
    assert_eq!(got.len(), 5);
    let now = chrono::Utc::now().timestamp();
    for r in &got {
        assert!(
            r.signature_valid,
            "the signature verifies with the destination's secret"
        );
        assert!(
            (now - r.timestamp).abs() < 60,
            "webhook-timestamp is the send time"
        );
        assert!(keys.contains(&r.idempotency_key));
        assert_eq!(r.body["idempotency_key"], r.idempotency_key);
        assert_eq!(r.body["type"], "ORDER_SHIPPED");
        assert_eq!(r.body["data"]["order"], r.idempotency_key);
        assert_eq!(r.body["tenant_id"], plane.tenant.to_string());
        let outbox_id: uuid::Uuid = r.webhook_id.parse().expect("webhook-id is the entry's id");
        let status = plane
            .db
            .scalar(&format!(
                "SELECT count(*) FROM outbox_events WHERE id = '{outbox_id}' AND status = 'DELIVERED'"
            ))
            .await;
        assert_eq!(status, 1);
    }
    assert_eq!(receiver.keys(), 5);
    assert_eq!(
        plane
            .db
            .scalar("SELECT count(*) FROM effects WHERE status = 'COMPLETED'")
            .await,
        5
    );
}

#[tokio::test]
async fn a_request_wakes_a_waiting_worker_without_polling() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    let (stop, handle) = plane.spawn(notified_only(quick(3))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    plane.request("orders", &keys("wake", 1)).await;
    let delivered = eventually(Duration::from_secs(5), async || receiver.keys() == 1).await;
    stop.send(true).unwrap();
    handle.await.unwrap();
    assert!(
        delivered,
        "the notification woke the worker well before its poll"
    );
}

/// A commit wakes one waiting loop, not all of them, and a claim that took
/// all that was due is not followed by one that finds nothing: with four
/// loops waiting, each request committed on its own costs one claim (every
/// loop claimed on every commit before: about four).
#[tokio::test]
async fn a_request_wakes_one_loop_and_costs_one_claim() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    let config = WorkerConfig {
        concurrency: 4,
        ..quick(3)
    };
    let (stop, handle) = plane.spawn(notified_only(config)).await;
    // Each loop's first claim finds nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..10 {
        plane.request("orders", &[format!("one-{i}")]).await;
        let arrived = eventually(Duration::from_secs(5), async || receiver.keys() == i + 1).await;
        assert!(arrived, "request {i} was delivered");
    }
    stop.send(true).unwrap();
    let tally = handle.await.unwrap();
    assert_eq!(tally.delivered, 10);
    // The first claims, one a request, and room for the listener's own
    // self-test notification and a commit heard while a loop was busy.
    assert!(
        tally.claims <= 4 + 10 + 3,
        "{} claims for 10 requests",
        tally.claims
    );
}

#[tokio::test]
async fn shutdown_finishes_what_is_in_flight() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    plane.request("orders", &keys("bulk", 200)).await;
    let (stop, handle) = plane.spawn(quick(3)).await;
    assert!(eventually(Duration::from_secs(10), async || receiver.keys() > 0).await);
    stop.send(true).unwrap();
    let tally = handle.await.unwrap();
    assert_eq!(
        plane.count("IN_FLIGHT").await,
        0,
        "nothing it claimed is left in flight"
    );
    assert_eq!(tally.claimed, tally.delivered);
    assert_eq!(plane.count("DELIVERED").await as u64, tally.delivered);
}

#[tokio::test]
async fn a_lost_listen_connection_is_re_established() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    let (stop, handle) = plane.spawn(notified_only(quick(3))).await;
    let listener = "SELECT coalesce(max(pid), 0)::bigint FROM pg_stat_activity
                    WHERE datname = current_database() AND query ILIKE 'LISTEN%'";
    assert!(
        eventually(Duration::from_secs(5), async || plane
            .db
            .scalar(listener)
            .await
            > 0)
        .await
    );
    let old = plane.db.scalar(listener).await;
    let killed = plane
        .db
        .scalar(&format!("SELECT count(pg_terminate_backend({old}))"))
        .await;
    assert_eq!(killed, 1, "the worker's LISTEN connection is gone");
    let again = format!(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> {old}"
    );
    assert!(
        eventually(Duration::from_secs(5), async || plane
            .db
            .scalar(&again)
            .await
            == 1)
        .await,
        "the worker listens again, on a new connection"
    );
    plane.request("orders", &keys("after-loss", 1)).await;
    let delivered = eventually(Duration::from_secs(5), async || receiver.keys() == 1).await;
    stop.send(true).unwrap();
    handle.await.unwrap();
    assert!(
        delivered,
        "woken by a notification on the new connection, not by the poll"
    );
}
