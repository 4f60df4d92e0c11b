//! Retries: exponential backoff, Retry-After, permanent failures, poison
//! entries, and the operator's requeue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pplane_domain::delivery::Backoff;
use pplane_domain::{OutboxId, OutboxStatus};
use pplane_store::operations::delivery::delivery_requeue;
use pplane_store::operations::destinations::Target;
use pplane_store::operations::Origin;
use pplane_store::repositories::outbox::outbox_list;
use pplane_worker::receiver::Receiver;
use pplane_worker::WorkerConfig;

use crate::support::{eventually, keys, quick, Plane};

#[tokio::test]
async fn transient_failures_are_retried_until_delivered() {
    let plane = Plane::new().await;
    // 503 twice per key, then accepted.
    let receiver = Receiver::start_with(Arc::new(
        |_, n| if n <= 2 { (503, None) } else { (204, None) },
    ))
    .await
    .unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    plane.request("orders", &keys("flaky", 4)).await;
    let (stop, handle) = plane.spawn(quick(5)).await;
    let done = eventually(Duration::from_secs(10), async || {
        plane.count("DELIVERED").await == 4
    })
    .await;
    stop.send(true).unwrap();
    let tally = handle.await.unwrap();
    assert!(done, "all four delivered");
    assert_eq!((tally.delivered, tally.retried), (4, 8));
    assert_eq!(receiver.received().len(), 12);
    assert_eq!(
        plane
            .db
            .scalar("SELECT sum(retry_count) FROM outbox_events")
            .await,
        8
    );
    let failed_events = plane
        .db
        .scalar("SELECT count(*) FROM orchestration_events WHERE event_type = 'EFFECT_FAILED'")
        .await;
    assert_eq!(
        failed_events, 8,
        "each failed attempt is an EFFECT_FAILED event"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let plane = Plane::new().await;
    let receiver =
        Receiver::start_with(Arc::new(
            |_, n| if n == 1 { (429, Some(1)) } else { (204, None) },
        ))
        .await
        .unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    plane.request("orders", &keys("busy", 1)).await;
    let (stop, handle) = plane.spawn(quick(5)).await;
    let done = eventually(Duration::from_secs(10), async || {
        receiver.received().len() == 2
    })
    .await;
    stop.send(true).unwrap();
    handle.await.unwrap();
    assert!(done);
    let got = receiver.received();
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 held the retry back a second (backoff alone is 5 ms), got {gap:?}"
    );
}

#[tokio::test]
async fn a_permanent_failure_dead_letters_at_once() {
    let plane = Plane::new().await;
    let receiver = Receiver::start_with(Arc::new(|_, _| (404, None)))
        .await
        .unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/gone")))
        .await;
    plane.request("orders", &keys("lost", 1)).await;
    let tally = plane.drain(quick(10)).await;
    assert_eq!(tally.dead_lettered, 1);
    assert_eq!(receiver.received().len(), 1, "a 404 is not retried");
    let mut tx = plane
        .store
        .tenant_tx(plane.tenant, plane.user)
        .await
        .unwrap();
    let entries = outbox_list(tx.conn(), plane.tenant, None, 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(entries[0].status, OutboxStatus::DeadLetter);
    let last = &entries[0].error_details.as_ref().unwrap()["last"];
    assert_eq!(
        (last["kind"].as_str(), last["message"].as_str()),
        (Some("permanent"), Some("HTTP 404"))
    );
}

#[tokio::test]
async fn a_poison_entry_dead_letters_after_its_attempts_on_the_backoff_schedule_and_requeue_delivers_it(
) {
    let plane = Plane::new().await;
    let healed = Arc::new(AtomicBool::new(false));
    let answer = healed.clone();
    let receiver = Receiver::start_with(Arc::new(move |_, _| {
        if answer.load(Ordering::SeqCst) {
            (204, None)
        } else {
            (500, None)
        }
    }))
    .await
    .unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    plane.request("orders", &keys("poison", 1)).await;
    let config = WorkerConfig {
        backoff: Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_millis(800),
            max_attempts: 4,
        },
        ..quick(4)
    };
    let (stop, handle) = plane.spawn(config.clone()).await;
    let dead = eventually(Duration::from_secs(10), async || {
        plane.count("DEAD_LETTER").await == 1
    })
    .await;
    stop.send(true).unwrap();
    handle.await.unwrap();
    assert!(dead);
    let got = receiver.received();
    assert_eq!(got.len(), 4, "exactly max_attempts attempts");
    // Delays are base·2^(n−1), each at least half its step: 100, 200, 400 ms.
    for (n, pair) in got.windows(2).enumerate() {
        let floor = Duration::from_millis(100 << n);
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= floor, "gap {} was {gap:?}, below {floor:?}", n + 1);
    }
    assert_eq!(
        plane
            .db
            .scalar("SELECT count(*) FROM effects WHERE status = 'DEAD_LETTER'")
            .await,
        1
    );

    // The operator fixes the receiver and requeues.
    healed.store(true, Ordering::SeqCst);
    let id: uuid::Uuid = got[0].webhook_id.parse().unwrap();
    let operator = Origin::by("user:operator-7".parse().unwrap());
    let mut tx = plane
        .store
        .tenant_tx(plane.tenant, plane.user)
        .await
        .unwrap();
    let requeued = delivery_requeue(&mut tx, OutboxId::from_uuid(id), &operator)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (requeued.entry.status.as_str(), requeued.entry.attempt),
        ("PENDING", 0)
    );
    assert_eq!(
        requeued.events.len(),
        1,
        "the requeue appends EFFECT_REQUEUED"
    );
    let tally = plane.drain(config).await;
    assert_eq!(tally.delivered, 1);
    assert_eq!(plane.count("DELIVERED").await, 1);
    let by_operator = plane
        .db
        .scalar(
            "SELECT count(*) FROM orchestration_events
             WHERE event_type = 'EFFECT_REQUEUED' AND actor = 'user:operator-7'",
        )
        .await;
    assert_eq!(by_operator, 1, "the requeue is the operator's event");

    let mut tx = plane
        .store
        .tenant_tx(plane.tenant, plane.user)
        .await
        .unwrap();
    let again = delivery_requeue(&mut tx, OutboxId::from_uuid(id), &operator)
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("only a DEAD_LETTER entry"),
        "{again}"
    );
    drop(tx);
    plane.assert_data_gate_passes().await;
}

#[tokio::test]
async fn the_walkthroughs_bare_requeue_update_works_as_written() {
    let plane = Plane::new().await;
    let healed = Arc::new(AtomicBool::new(false));
    let answer = healed.clone();
    let receiver = Receiver::start_with(Arc::new(move |_, _| {
        if answer.load(Ordering::SeqCst) {
            (204, None)
        } else {
            (400, None)
        }
    }))
    .await
    .unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    plane.request("orders", &keys("manual", 1)).await;
    assert_eq!(plane.drain(quick(3)).await.dead_lettered, 1);
    healed.store(true, Ordering::SeqCst);

    // Section 8, "Requeue if transient failure", verbatim, in the tenant.
    let dead = plane
        .db
        .scalar("SELECT count(*) FROM outbox_events WHERE status = 'DEAD_LETTER'")
        .await;
    assert_eq!(dead, 1);
    plane
        .db
        .exec(&format!(
            "BEGIN; SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{}'; SET LOCAL app.user_id = '{}';
             UPDATE outbox_events
             SET status = 'PENDING', retry_count = 0, next_retry_at = NULL
             WHERE id = (SELECT id FROM outbox_events WHERE status = 'DEAD_LETTER');
             COMMIT;",
            plane.tenant, plane.user
        ))
        .await;
    let tally = plane.drain(quick(3)).await;
    assert_eq!(tally.delivered, 1, "{tally:?}");
    assert_eq!(
        plane
            .db
            .scalar("SELECT count(*) FROM effects WHERE status = 'COMPLETED'")
            .await,
        1
    );
    let requeued = plane
        .db
        .scalar("SELECT count(*) FROM orchestration_events WHERE event_type = 'EFFECT_REQUEUED'")
        .await;
    assert_eq!(
        requeued, 1,
        "the worker recorded the requeue the UPDATE did not"
    );
    plane.assert_data_gate_passes().await;
}
