//! Tailing the tenant's log while 8 writers append: the client long-polls,
//! drops connections mid-request, resumes from the last position it saw,
//! and sees every event exactly once, in order.

use std::time::Duration;

use pplane_domain::ApiScope;
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::runs::run_start;
use pplane_store::operations::Origin;
use pplane_store::testing::signal_ingest_alone;
use serde_json::{json, Value};

use crate::support::Served;

const WRITERS: usize = 8;
const RUNS_EACH: usize = 12;

#[tokio::test]
async fn a_tail_sees_every_event_once_across_reconnects() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Read).await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, tenant, user) = (served.store.clone(), c.tenant, c.user);
            tokio::spawn(async move {
                let by = Origin::by("agent:writer".parse().unwrap());
                for i in 0..RUNS_EACH {
                    let input = SignalInput {
                        channel: "load".into(),
                        source_id: format!("{w}-{i}"),
                        payload: json!({}),
                        domain_refs: json!({}),
                        actor: "external:load".parse().unwrap(),
                    };
                    let got = signal_ingest_alone(&store, tenant, user, &input)
                        .await
                        .unwrap();
                    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
                    run_start(&mut tx, got.run_id, &by).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    let total = (WRITERS * RUNS_EACH * 3) as i64;

    let (mut after, mut seen, mut request) = (0i64, Vec::new(), 0u32);
    while after < total {
        request += 1;
        // Every third request is cut off before its answer arrives: the
        // client reconnects and resumes from what it saw.
        let timeout = if request % 3 == 0 {
            Duration::from_millis(5)
        } else {
            Duration::from_secs(10)
        };
        let sent = c
            .http
            .get(format!("{}/v1/events?after={after}&limit=7&wait=2", c.base))
            .bearer_auth(c.key.as_deref().unwrap())
            .timeout(timeout)
            .send()
            .await;
        let Ok(response) = sent else { continue };
        let Ok(page) = response.json::<Value>().await else {
            continue;
        };
        for e in page["events"].as_array().unwrap() {
            let n = e["sequence_number"].as_i64().unwrap();
            assert_eq!(n, after + 1, "skipped or repeated after {after}");
            after = n;
            seen.push(n);
        }
        assert!(request < 10_000, "the tail stalled at {after} of {total}");
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    let rest = c
        .get(&format!("/v1/events?after={after}"))
        .await
        .expect(200);
    assert!(rest["events"].as_array().unwrap().is_empty());
    served.stop().await;
}
