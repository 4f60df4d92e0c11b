//! `pplane serve --worker`'s `/metrics` as Prometheus scrapes it: an effect
//! requested over HTTP and delivered by the worker shows in the event
//! appends, the worker's claims and deliveries, the commit-to-delivery
//! latency and the outbox's depth.

use std::time::{Duration, Instant};

use pplane_store::testing::TestDb;
use pplane_worker::receiver::Receiver;
use serde_json::json;

use crate::serve::{free_port, serve_with, terminate};
use crate::support::{Home, Started};

/// The value of the sample whose series is exactly `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

async fn scrape(base: &str) -> String {
    let answer = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap()
}

// Multi-threaded: the receiver answers while this thread waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_effect_shows_in_the_appends_claims_deliveries_latency_and_depth() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let started = Started::new(home.path(), url);
    let receiver = Receiver::start().await.unwrap();
    let hook = receiver.url("/hooks");
    let added = started.run(
        home.path(),
        url,
        &["destination", "add", "d", "--webhook", &hook],
    );
    assert_eq!(added.code, 0, "{added:?}");
    receiver.trust(added.json()["signing_secret"].as_str().unwrap());
    let key = started.run(
        home.path(),
        url,
        &["apikey", "create", "--scope", "runtime", "--json"],
    );
    let key = key.json()["key"].as_str().unwrap().to_owned();

    let (server, base) = serve_with(db.url(), &["--worker"]).await;
    let requested = reqwest::Client::new()
        .post(format!("{base}/v1/runs/{}/effects", started.run))
        .bearer_auth(&key)
        .json(&json!({ "effect_type": "NOTIFY", "idempotency_key": "k-1", "destination": "d" }))
        .send()
        .await
        .unwrap();
    assert_eq!(requested.status(), 201);

    let delivered = r#"pplane_outbox_deliveries_total{outcome="delivered"}"#;
    let in_outbox = r#"pplane_outbox_entries{status="delivered"}"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    // A scrape reads the outbox, then renders the counters: one that reads
    // just before the worker's commit and renders just after shows the
    // delivery counted but not yet in the outbox. The next one shows both.
    let text = loop {
        let text = scrape(&base).await;
        let both = sample(&text, delivered) == Some(1.0) && sample(&text, in_outbox) == Some(1.0);
        if both || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sample(&text, delivered), Some(1.0), "{text}");
    assert_eq!(receiver.received().len(), 1);
    assert!(sample(&text, "pplane_outbox_claims_total").unwrap() >= 1.0);
    assert_eq!(
        sample(&text, "pplane_outbox_claimed_entries_total"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "pplane_outbox_leases_held"), Some(0.0));
    assert_eq!(
        sample(&text, "pplane_outbox_delivery_latency_seconds_count"),
        Some(1.0)
    );
    // The request's EFFECT_REQUESTED, the worker's EFFECT_DISPATCHED and
    // EFFECT_SUCCEEDED: appended inside their transactions.
    let appended = r#"pplane_event_appends_total{path="statement"}"#;
    assert!(sample(&text, appended).unwrap() >= 3.0, "{text}");
    let timed = r#"pplane_event_append_duration_seconds_count{path="statement"}"#;
    assert!(sample(&text, timed).unwrap() >= 3.0, "{text}");
    assert_eq!(
        sample(&text, r#"pplane_outbox_entries{status="delivered"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"pplane_outbox_entries{status="pending"}"#),
        Some(0.0)
    );
    assert!(!text.contains(&started.tenant), "a tenant id in /metrics");
    assert!(
        !text.contains("pplane_outbox_tenant_entries{")
            && !text.contains("pplane_outbox_tenant_due{"),
        "per-tenant series by default"
    );
    deploy_files_name_only_what_is_exported(&text);

    terminate(&server);
    let mut server = server;
    assert!(server.wait().unwrap().success());
}

#[tokio::test]
async fn with_the_flag_each_tenants_outbox_depth_is_a_series_of_its_own() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let tenants = [
        Started::new(home.path(), url),
        Started::new(home.path(), url),
    ];
    for (t, effects) in tenants.iter().zip([1, 2]) {
        let added = t.run(
            home.path(),
            url,
            &["destination", "add", "d", "--nats", "s"],
        );
        assert_eq!(added.code, 0, "{added:?}");
        for k in 0..effects {
            let key = format!("k{k}");
            let args = [
                "run",
                "effect",
                &t.run,
                "--type",
                "E",
                "--key",
                &key,
                "--destination",
                "d",
            ];
            let requested = t.run(home.path(), url, &args);
            assert_eq!(requested.code, 0, "{requested:?}");
        }
    }
    let (server, base) = serve_with(db.url(), &["--metrics-per-tenant"]).await;
    let text = scrape(&base).await;
    for (t, effects) in tenants.iter().zip([1.0, 2.0]) {
        let series = format!(
            r#"pplane_outbox_tenant_entries{{tenant="{}",status="pending"}}"#,
            t.tenant
        );
        assert_eq!(sample(&text, &series), Some(effects), "{text}");
        // Who waits, and how long: the tenants with the most open entries.
        let due = format!(r#"pplane_outbox_tenant_due{{tenant="{}"}}"#, t.tenant);
        assert_eq!(sample(&text, &due), Some(effects), "{text}");
        let age = format!(
            r#"pplane_outbox_tenant_oldest_due_age_seconds{{tenant="{}"}}"#,
            t.tenant
        );
        assert!(sample(&text, &age).is_some_and(|s| s >= 0.0), "{text}");
    }
    assert_eq!(
        sample(&text, r#"pplane_outbox_entries{status="pending"}"#),
        Some(3.0)
    );
    terminate(&server);
    let mut server = server;
    assert!(server.wait().unwrap().success());
}

/// The alert rules and the dashboard ask only for series `/metrics` has: a
/// renamed metric fails here rather than in a silent panel or alert.
fn deploy_files_name_only_what_is_exported(scraped: &str) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let exported: Vec<&str> = scraped
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .collect();
    let read = |file: &str| std::fs::read_to_string(format!("{root}/{file}")).unwrap();
    // The queries only: comments and annotations may name other things (a role).
    let rules: String = read("deploy/prometheus/alerts.yml")
        .lines()
        .filter(|l| {
            !["#", "summary:", "runbook:", "console:"]
                .iter()
                .any(|k| l.trim_start().starts_with(k))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/pplane.json")).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let queries: String = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap().to_owned() + "\n")
        .collect();
    for (file, text) in [("alerts.yml", rules), ("pplane.json", queries)] {
        let mut named = 0;
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !word.starts_with("pplane_") {
                continue;
            }
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word);
            assert!(
                exported.contains(&family),
                "{file} names {word}, which /metrics does not have"
            );
            named += 1;
        }
        assert!(named >= 5, "{file} names only {named} pplane series");
    }
}

#[tokio::test]
async fn with_metrics_listen_only_that_address_serves_metrics() {
    let db = TestDb::migrated().await;
    let internal = format!("127.0.0.1:{}", free_port());
    let (server, base) = serve_with(db.url(), &["--metrics-listen", &internal]).await;
    let on_api = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(on_api.status(), 404);
    let text = scrape(&format!("http://{internal}")).await;
    assert!(
        text.contains("# TYPE pplane_outbox_entries gauge"),
        "{text}"
    );
    // The internal address serves nothing of the API or the console.
    let api = reqwest::get(format!("http://{internal}/v1/events"))
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let console = reqwest::get(format!("http://{internal}/runs"))
        .await
        .unwrap();
    assert_eq!(console.status(), 404);
    terminate(&server);
    let mut server = server;
    assert!(server.wait().unwrap().success());
}

/// Each alert names a runbook that exists (down to its heading) and, where
/// it sends the operator to the console, a page the console has.
#[tokio::test]
async fn each_alert_names_a_runbook_that_exists_and_a_console_page_that_answers() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let rules = std::fs::read_to_string(format!("{root}/deploy/prometheus/alerts.yml")).unwrap();
    let annotation = |line: &str, key: &str| {
        let value = line.trim_start().strip_prefix(key)?.trim();
        Some(value.trim_matches('"').to_owned())
    };
    let alerts = rules.matches("- alert:").count();
    let runbooks: Vec<String> = rules
        .lines()
        .filter_map(|l| annotation(l, "runbook:"))
        .collect();
    assert_eq!(runbooks.len(), alerts, "an alert without a runbook");
    for runbook in &runbooks {
        let (file, anchor) = runbook.split_once('#').unwrap_or((runbook, ""));
        let text = std::fs::read_to_string(format!("{root}/{file}"))
            .unwrap_or_else(|e| panic!("{runbook}: {e}"));
        if !anchor.is_empty() {
            let slugs: Vec<String> = text
                .lines()
                .filter_map(|l| l.strip_prefix("## "))
                .map(|h| {
                    h.to_lowercase()
                        .chars()
                        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                        .map(|c| if c == ' ' { '-' } else { c })
                        .collect()
                })
                .collect();
            assert!(
                slugs.iter().any(|s| s == anchor),
                "{runbook}: no such heading in {slugs:?}"
            );
        }
    }
    let db = TestDb::migrated().await;
    let (server, base) = serve_with(db.url(), &[]).await;
    let pages: Vec<String> = rules
        .lines()
        .filter_map(|l| annotation(l, "console:"))
        .collect();
    assert!(!pages.is_empty());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for page in pages {
        let answer = http.get(format!("{base}{page}")).send().await.unwrap();
        assert_eq!(answer.status(), 303, "{page}");
        assert_eq!(
            answer.headers()["location"],
            format!("/sign-in?next={}", page.replace('/', "%2F")).as_str()
        );
    }
    terminate(&server);
    let mut server = server;
    assert!(server.wait().unwrap().success());
}

/// Prometheus itself (Debian's, which `scripts/test` installs for promtool)
/// scrapes `pplane serve`, stores its series and evaluates every alert rule
/// against them without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_metrics_and_evaluates_every_rule() {
    let db = TestDb::migrated().await;
    // A healthy plane: its scheduled jobs have run.
    let home = Home::new();
    let jobs = crate::support::pplane(home.path(), Some(db.url()), &["jobs", "run"]);
    assert_eq!(jobs.code, 0, "{jobs:?}");
    let (server, base) = serve_with(db.url(), &[]).await;
    // Each job's health, by name (a label `job` would clash with the scrape's).
    let text = scrape(&base).await;
    for job in [
        "outbox-purge",
        "checkpoint-prune",
        "projection-refresh",
        "backup-verify",
    ] {
        let success = format!(r#"pplane_job_last_success_timestamp_seconds{{name="{job}"}}"#);
        assert!(
            sample(&text, &success).is_some_and(|t| t > 1.7e9),
            "{job}: {text}"
        );
        let failed = format!(r#"pplane_job_last_run_failed{{name="{job}"}}"#);
        assert_eq!(sample(&text, &failed), Some(0.0), "{job}");
        let enabled = format!(r#"pplane_job_enabled{{name="{job}"}}"#);
        assert_eq!(sample(&text, &enabled), Some(1.0), "{job}");
    }
    assert_eq!(
        sample(
            &text,
            r#"pplane_job_interval_seconds{name="backup-verify"}"#
        ),
        Some(7.0 * 86_400.0)
    );
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
         rule_files: [\"{root}/deploy/prometheus/alerts.yml\"]\n\
         scrape_configs:\n  - job_name: pplane\n    static_configs:\n      - targets: [\"{}\"]\n",
        base.trim_start_matches("http://")
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let mut prometheus = std::process::Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus is not installed: run scripts/test, or apt-get install prometheus");
    let query = |q: &str| {
        let url = format!("http://{web}/api/v1/query?query={q}");
        async move {
            let answer = reqwest::get(url).await.ok()?;
            let body: serde_json::Value = answer.json().await.ok()?;
            Some(body["data"]["result"].as_array()?.clone())
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = query("up%7Bjob%3D%22pplane%22%7D")
            .await
            .unwrap_or_default();
        if up.first().is_some_and(|s| s["value"][1] == "1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped pplane: {up:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let depth = query("pplane_outbox_entries").await.unwrap();
    assert_eq!(depth.len(), 4, "one series per status: {depth:?}");
    // Every rule has been evaluated, without an error.
    loop {
        let url = format!("http://{web}/api/v1/rules");
        let rules: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        let rules: Vec<serde_json::Value> = rules["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .collect();
        assert_eq!(rules.len(), 8, "{rules:?}");
        if rules.iter().all(|r| r["health"] == "ok") {
            // Nothing is wrong on an idle plane: no alert fires.
            assert!(rules.iter().all(|r| r["state"] == "inactive"), "{rules:?}");
            break;
        }
        let broken = rules.iter().find(|r| r["health"] == "err");
        assert!(broken.is_none(), "{broken:?}");
        assert!(Instant::now() < deadline, "rules not evaluated: {rules:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    terminate(&server);
    let mut server = server;
    assert!(server.wait().unwrap().success());
}
