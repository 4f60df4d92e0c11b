//! Effects over HTTP: requested through the outbox (idempotently), read
//! back with their entry and events; destinations and the outbox are the
//! operator's.

use pplane_domain::ApiScope;
use serde_json::json;

use crate::support::Served;

#[tokio::test]
async fn an_effect_is_requested_once_and_read_back_with_its_outbox_entry() {
    let served = Served::start().await;
    let op = served.tenant(ApiScope::Operator).await;
    let rt = served.client(op.tenant, op.user, ApiScope::Runtime).await;
    rt.post(
        "/v1/destinations",
        json!({ "name": "mailer", "webhook": "https://x.example/h" }),
    )
    .await
    .problem(403, "forbidden");
    let created = op
        .post(
            "/v1/destinations",
            json!({ "name": "mailer", "webhook": "https://u:pw@x.example/h" }),
        )
        .await
        .expect(201);
    assert!(created["signing_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let listed = rt.get("/v1/destinations").await.expect(200);
    let shown = listed.to_string();
    assert!(
        !shown.contains("whsec_") && !shown.contains(":pw@"),
        "{shown}"
    );

    let run = rt.run("s").await;
    rt.post(&format!("/v1/runs/{run}/start"), json!({}))
        .await
        .expect(200);
    let email = json!({ "effect_type": "SEND_EMAIL", "idempotency_key": "mail-1",
                        "destination": "mailer", "spec": { "to": "a@b.c" } });
    let requested = rt
        .post(&format!("/v1/runs/{run}/effects"), email.clone())
        .await
        .expect(201);
    assert_eq!(requested["duplicate"], false);
    assert_eq!(requested["events"].as_array().unwrap().len(), 1);
    let again = rt
        .post(&format!("/v1/runs/{run}/effects"), email)
        .await
        .expect(200);
    assert_eq!(
        (again["duplicate"].clone(), again["effect"]["id"].clone()),
        (json!(true), requested["effect"]["id"].clone())
    );
    let conflict = json!({ "effect_type": "SEND_EMAIL", "idempotency_key": "mail-1",
                           "destination": "mailer", "spec": { "to": "other@b.c" } });
    rt.post(&format!("/v1/runs/{run}/effects"), conflict)
        .await
        .problem(409, "conflict");

    let effect = requested["effect"]["id"].as_str().unwrap();
    let seen = rt.get(&format!("/v1/effects/{effect}")).await.expect(200);
    assert_eq!(seen["outbox"]["status"], "PENDING");
    let entry = seen["outbox"]["id"].as_str().unwrap().to_owned();

    rt.get("/v1/outbox").await.problem(403, "forbidden");
    let entries = op.get("/v1/outbox?status=PENDING").await.expect(200);
    assert_eq!(entries.as_array().unwrap().len(), 1);
    assert_eq!(op.get("/v1/outbox/stats").await.expect(200)["pending"], 1);
    op.get("/v1/outbox?status=LOST")
        .await
        .problem(422, "invalid-input");
    // Only a dead letter can be requeued.
    op.post(&format!("/v1/outbox/{entry}/requeue"), json!({}))
        .await
        .problem(409, "invalid-transition");
    let diagnosis = rt
        .get(&format!("/v1/runs/{run}/diagnosis"))
        .await
        .expect(200);
    assert_eq!(diagnosis["run"]["id"], run.as_str());
    served.stop().await;
}

#[tokio::test]
async fn an_operator_purges_only_its_own_tenants_delivered_entries() {
    let served = Served::start().await;
    let mine = served.operator_with_effect().await;
    let theirs = served.operator_with_effect().await;
    assert_eq!(served.deliver_all().await, 2);
    let events_before = mine.get("/v1/events?limit=1000").await.expect(200);
    let later = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let earlier = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();

    let runtime = served
        .client(mine.tenant, mine.user, ApiScope::Runtime)
        .await;
    runtime
        .post("/v1/outbox/purge", json!({ "delivered_before": later }))
        .await
        .problem(403, "forbidden");
    let bad = mine
        .post(
            "/v1/outbox/purge",
            json!({ "delivered_before": "yesterday" }),
        )
        .await
        .problem(422, "invalid-input");
    assert!(bad["detail"].as_str().unwrap().contains("delivered_before"));
    let none = mine
        .post("/v1/outbox/purge", json!({ "delivered_before": earlier }))
        .await
        .expect(200);
    assert_eq!(none["purged"], 0, "delivered just now, not a day ago");

    let purged = mine
        .post("/v1/outbox/purge", json!({ "delivered_before": later }))
        .await
        .expect(200);
    assert_eq!(purged["purged"], 1);
    assert_eq!(mine.get("/v1/outbox").await.expect(200), json!([]));
    let kept = theirs.get("/v1/outbox?status=DELIVERED").await.expect(200);
    assert_eq!(
        kept.as_array().unwrap().len(),
        1,
        "the other tenant's stays"
    );
    assert_eq!(
        mine.get("/v1/events?limit=1000").await.expect(200),
        events_before,
        "the log keeps every effect event"
    );
    served.stop().await;
}
