//! `GET /metrics`: Prometheus text that counts and times requests by route
//! template (never by id or tenant), and reads the outbox's depth when
//! scraped.

use pplane_domain::ApiScope;
use serde_json::json;

use crate::support::Served;

/// The value of the sample whose line starts with `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(base: &str) -> (String, String) {
    let answer = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(answer.status(), 200);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (kind, answer.text().await.unwrap())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_the_outbox_is_read_when_scraped() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Operator).await;
    let counted =
        r#"pplane_http_requests_total{route="/v1/runs/{run}/start",method="POST",status="200"}"#;
    let (_, before) = scrape(&served.base).await;
    let already = sample(&before, counted).unwrap_or(0.0);

    let run = c.started_run_with_destination().await;
    c.post(&format!("/v1/runs/{run}/start"), json!({}))
        .await
        .problem(409, "invalid-transition");
    for key in ["k1", "k2"] {
        c.post(
            &format!("/v1/runs/{run}/effects"),
            json!({ "effect_type": "E", "idempotency_key": key, "destination": "d" }),
        )
        .await
        .expect(201);
    }

    let (kind, text) = scrape(&served.base).await;
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    // Other specs in this process share the recorder: at least this one's.
    assert!(
        sample(&text, counted).unwrap_or(0.0) >= already + 1.0,
        "{text}"
    );
    let refused =
        r#"pplane_http_requests_total{route="/v1/runs/{run}/start",method="POST",status="409"}"#;
    assert!(sample(&text, refused).unwrap_or(0.0) >= 1.0, "{text}");
    let timed = r#"pplane_http_request_duration_seconds_count{route="/v1/runs/{run}/effects",method="POST"}"#;
    assert!(sample(&text, timed).unwrap_or(0.0) >= 2.0, "{text}");
    assert!(text.contains(r#"pplane_http_request_duration_seconds_bucket{route="/v1/runs/{run}/effects",method="POST",le="0.01"}"#));
    // The outbox as the dispatcher sees it: at least this test's two entries.
    assert_eq!(sample(&text, "pplane_outbox_stats_up"), Some(1.0));
    assert!(sample(&text, r#"pplane_outbox_entries{status="pending"}"#).unwrap() >= 2.0);
    assert!(sample(&text, "pplane_outbox_oldest_due_age_seconds").unwrap() >= 0.0);
    // No id of the tenant, its run or its key appears as a label.
    for id in [c.tenant.to_string(), run, c.key_id.to_string()] {
        assert!(!text.contains(&id), "{id} in /metrics");
    }
    served.stop().await;
}
