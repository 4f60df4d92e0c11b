//! The console in a real browser (headless Chromium over WebDriver) against
//! `pplane serve --worker` on a database the demo filled: an operator signs
//! in, finds the failed run, reads its steps and events, requeues the dead
//! letter and watches it go out; wrong, read-only and other tenants' keys
//! get nothing they should not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use pplane_demo::{DemoOptions, DemoReport};
use pplane_domain::{ApiScope, TenantId, UserId};
use pplane_store::operations::api_keys::api_key_create;
use pplane_store::testing::TestDb;
use pplane_worker::receiver::Receiver;
use serde_json::json;

use super::Browser;
use crate::serve::{serve_with, terminate};

/// A plane the demo filled (one tenant, three runs: one failed, one effect
/// dead-lettered by a receiver that refuses it until `mend`), served with a
/// worker, with keys of every scope for the demo's tenant and an operator
/// key of a second tenant.
struct Plane {
    db: TestDb,
    base: String,
    server: std::process::Child,
    receiver: Receiver,
    mended: Arc<AtomicBool>,
    report: DemoReport,
    operator: String,
    read: String,
    stranger: String,
}

impl Plane {
    async fn start() -> Plane {
        let db = TestDb::migrated().await;
        let mended = Arc::new(AtomicBool::new(false));
        let answers = mended.clone();
        let receiver = Receiver::start_with(Arc::new(move |key: &str, _| {
            if key.contains("broken") && !answers.load(Ordering::SeqCst) {
                (400, None)
            } else {
                (204, None)
            }
        }))
        .await
        .unwrap();
        let opts = DemoOptions {
            tenants: 1,
            runs: 3,
            webhook: Some(receiver.url("/hooks")),
            no_worker: false,
        };
        let report = pplane_demo::run(db.url(), &opts, |_| {}).await.unwrap();
        assert_eq!(report.dead_letters, 1, "{report:?}");
        let store = db.store().await;
        let (tenant, user) = report.driven.tenants[0];
        let key = |tenant: TenantId, user: UserId, scope: ApiScope| {
            let store = store.clone();
            async move {
                let mut tx = store.tenant_tx(tenant, user).await.unwrap();
                let created = api_key_create(&mut tx, "console", scope, None)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                created.text
            }
        };
        let operator = key(tenant, user, ApiScope::Operator).await;
        let read = key(tenant, user, ApiScope::Read).await;
        let (other, other_user) = db.tenant(&store).await;
        let stranger = key(other, other_user, ApiScope::Operator).await;
        let (server, base) = serve_with(db.url(), &["--worker"]).await;
        Plane {
            db,
            base,
            server,
            receiver,
            mended,
            report,
            operator,
            read,
            stranger,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn failed_run(&self) -> String {
        self.report.driven.failed.unwrap().1.to_string()
    }

    fn dead_effect(&self) -> String {
        self.report.driven.doomed.unwrap().1.to_string()
    }

    async fn dead_entry(&self) -> String {
        self.db
            .text(&format!(
                "SELECT id::text FROM outbox_events WHERE aggregate_id = '{}'",
                self.dead_effect()
            ))
            .await
    }

    async fn entry_status(&self) -> String {
        self.db
            .text(&format!(
                "SELECT status FROM outbox_events WHERE aggregate_id = '{}'",
                self.dead_effect()
            ))
            .await
    }

    /// A browser with a `width` × `height` window, signed in with `key`
    /// (on the runs list).
    async fn browser(&self, key: &str, width: u32, height: u32) -> Browser {
        let browser = Browser::open(width, height).await;
        browser.sign_in(&self.base, key).await;
        browser.element("main h1").await;
        browser
    }

    /// Closes the browser, then stops the server.
    async fn stop(mut self, browser: Browser) {
        browser.close().await;
        terminate(&self.server);
        self.server.wait().unwrap();
    }
}

/// POSTs a form from inside the signed-in page (same origin, the session's
/// cookie), with the CSRF token its sign-out form carries; the status.
async fn post_from_page(browser: &Browser, path: &str) -> i64 {
    let script = format!(
        "const csrf = document.querySelector('input[name=csrf]').value;
         return fetch('{path}', {{ method: 'POST', redirect: 'manual',
             headers: {{ 'Content-Type': 'application/x-www-form-urlencoded' }},
             body: 'csrf=' + encodeURIComponent(csrf) }}).then(r => r.status);"
    );
    browser.eval(&script).await.as_i64().unwrap()
}

async fn press(browser: &Browser, key: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    browser.client.perform_actions(keys).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_the_failed_run_sees_why_and_requeues_the_dead_letter() {
    let plane = Plane::start().await;
    let browser = plane.browser(&plane.operator, 1280, 800).await;
    browser.element("#runs").await;
    assert_eq!(browser.path().await, "/runs");
    let (tenant, _) = plane.report.driven.tenants[0];
    assert_eq!(browser.text("#tenant").await, tenant.to_string());
    assert_eq!(browser.text("#scope").await, "operator");
    assert_eq!(browser.all("#runs tbody tr").await.len(), 3);
    browser.screenshot("console-runs.png").await;

    // The failed run, by its status.
    browser
        .element("#status")
        .await
        .select_by_value("FAILED")
        .await
        .unwrap();
    browser
        .element("#run-filters button")
        .await
        .click()
        .await
        .unwrap();
    browser.arrive_at("status=FAILED").await;
    browser.element("#runs").await;
    let rows = browser.all("#runs tbody tr").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].attr("data-run").await.unwrap().as_deref(),
        Some(plane.failed_run().as_str())
    );
    browser
        .element("#runs tbody tr a")
        .await
        .click()
        .await
        .unwrap();

    // Why it failed: the failed step with its error, the run's error.
    assert_eq!(browser.text("#run-id").await, plane.failed_run());
    let failed = browser.all("#steps li.step[data-status=FAILED]").await;
    assert!(!failed.is_empty(), "no failed step shown");
    let error = failed[0]
        .find(fantoccini::Locator::Css(".error-line"))
        .await
        .unwrap();
    assert!(!error.text().await.unwrap().is_empty());
    assert!(!browser.text("#run-error").await.is_empty());
    // Its events, in log order, every one of them; the causation tree.
    let correlation = plane
        .db
        .text(&format!(
            "SELECT correlation_id::text FROM runs WHERE id = '{}'",
            plane.failed_run()
        ))
        .await;
    let logged = plane
        .db
        .text(&format!(
            "SELECT string_agg(event_type, ',' ORDER BY sequence_number) FROM orchestration_events
             WHERE correlation_id = '{correlation}'"
        ))
        .await;
    let mut shown = Vec::new();
    for row in browser.all("#events tr.event").await {
        shown.push(row.attr("data-event-type").await.unwrap().unwrap());
    }
    assert_eq!(shown.join(","), logged);
    assert!(logged.contains("RUN_FAILED"));
    let tree = browser.texts("#causation li").await;
    assert_eq!(tree.len(), shown.len(), "{tree:?}");
    assert!(tree[0].contains("SIGNAL_RECEIVED"), "{tree:?}");
    assert!(tree[1..].iter().all(|l| l.contains('─')), "{tree:?}");
    // The waterfall: a bar for the run, each step and tool call.
    let spans = browser.all("#waterfall tr.span svg rect").await;
    let steps = browser.all("#steps li.step").await.len();
    assert!(
        spans.len() > steps,
        "{} spans for {steps} steps",
        spans.len()
    );
    browser.screenshot("console-failed-run.png").await;

    // The dead letter, its last error; the receiver is mended; requeued.
    browser.goto(&plane.url("/dead-letters")).await;
    let rows = browser.texts("#dead-letters tbody tr").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("broken-0") && rows[0].contains("400"),
        "{rows:?}"
    );
    browser.screenshot("console-dead-letters.png").await;
    plane.mended.store(true, Ordering::SeqCst);
    browser
        .element("button.requeue")
        .await
        .click()
        .await
        .unwrap();
    browser.element("#requeued").await;
    assert!(browser.path().await.starts_with("/dead-letters?requeued="));
    // The page follows the entry until the worker has delivered it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = browser
            .client
            .find(fantoccini::Locator::Css("#requeued [data-status]"))
            .await
            .ok();
        let text = match status {
            Some(s) => s.text().await.unwrap_or_default(),
            None => String::new(),
        };
        if text == "DELIVERED" {
            break;
        }
        assert!(Instant::now() < deadline, "still {text:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(browser.all("#no-dead-letters").await.len() == 1);
    assert_eq!(plane.entry_status().await, "DELIVERED");
    let last = plane
        .receiver
        .received()
        .into_iter()
        .rfind(|r| r.idempotency_key.contains("broken"))
        .unwrap();
    assert!(last.earlier_with_key >= 1, "the requeue sent it again");
    // The effect's line on its run's page says so too.
    browser
        .goto(&plane.url(&format!("/effects/{}", plane.dead_effect())))
        .await;
    let line = browser
        .text(&format!("#effect-{} .outbox-status", plane.dead_effect()))
        .await;
    assert_eq!(line, "DELIVERED");
    browser.goto(&plane.url("/outbox")).await;
    assert_eq!(browser.text("#due .n").await, "0");
    let delivered = plane
        .db
        .scalar("SELECT count(*) FROM outbox_events WHERE status = 'DELIVERED'")
        .await;
    assert!(delivered >= 4);
    assert_eq!(
        browser.text("#delivered-hour").await,
        format!("{delivered} delivered in the last hour.")
    );
    browser.screenshot("console-outbox.png").await;
    plane.stop(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_reaches_everything_and_a_phone_needs_no_sideways_scroll() {
    let plane = Plane::start().await;
    let browser = plane.browser(&plane.operator, 390, 844).await;
    browser.element("#runs").await;

    // The first Tab reaches the skip link; "/" jumps to the search box,
    // and Enter there searches by a signal's source id.
    press(&browser, Key::Tab.into()).await;
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("class").await.unwrap().as_deref(),
        Some("skip")
    );
    press(&browser, '/').await;
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("q"));
    focused.send_keys("ticket-0-2").await.unwrap();
    press(&browser, Key::Enter.into()).await;
    browser.arrive_at("q=ticket-0-2").await;
    browser.element("#runs").await;
    let rows = browser.texts("#runs tbody tr").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("ticket-0-2"));

    // Each page fits a phone's width: wide tables scroll inside themselves.
    for path in [
        "/runs".to_owned(),
        format!("/runs/{}", plane.failed_run()),
        "/dead-letters".into(),
        "/outbox".into(),
    ] {
        browser.goto(&plane.url(&path)).await;
        browser.element("main h1").await;
        let overflow = browser
            .eval("return document.documentElement.scrollWidth - window.innerWidth;")
            .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{path} overflows by {overflow}"
        );
        if path.starts_with("/runs/") {
            browser.screenshot("console-run-phone.png").await;
        }
    }
    plane.stop(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused_and_a_read_key_cannot_requeue() {
    let plane = Plane::start().await;
    let browser = Browser::open(1280, 800).await;

    // Not signed in: any page leads to sign-in.
    browser.goto(&plane.url("/dead-letters")).await;
    browser.element("#key").await;
    assert_eq!(browser.path().await, "/sign-in?next=%2Fdead-letters");
    // A wrong key: refused, no cookie.
    // The last digit changed (a fixed digit is the key itself 1 time in 16).
    let other = if plane.operator.ends_with('0') {
        '1'
    } else {
        '0'
    };
    let wrong = format!("{}{other}", &plane.operator[..plane.operator.len() - 1]);
    browser.sign_in(&plane.base, &wrong).await;
    assert!(browser.text("#sign-in-error").await.contains("unknown"));
    assert!(browser.client.get_all_cookies().await.unwrap().is_empty());
    browser.goto(&plane.url("/runs")).await;
    browser.element("#key").await;

    // A read key sees the dead letter but has no button, and a POST made
    // with its session is refused, the entry untouched.
    browser.sign_in(&plane.base, &plane.read).await;
    browser.element("#runs").await;
    browser.goto(&plane.url("/dead-letters")).await;
    browser.element("#requeue-needs-operator").await;
    assert_eq!(browser.all("#dead-letters tbody tr").await.len(), 1);
    assert!(browser.all("button.requeue").await.is_empty());
    let entry = plane.dead_entry().await;
    let status = post_from_page(&browser, &format!("/dead-letters/{entry}/requeue")).await;
    assert_eq!(status, 403);
    assert_eq!(plane.entry_status().await, "DEAD_LETTER");
    plane.stop(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_key_sees_none_of_its_runs_effects_or_dead_letters() {
    let plane = Plane::start().await;
    let browser = plane.browser(&plane.stranger, 1280, 800).await;
    browser.element("#no-runs").await;
    // Searching for the victim's run by id finds nothing either.
    browser
        .goto(&plane.url(&format!("/runs?q={}", plane.failed_run())))
        .await;
    browser.element("#no-runs").await;
    for path in [
        format!("/runs/{}", plane.failed_run()),
        format!("/effects/{}", plane.dead_effect()),
    ] {
        browser.goto(&plane.url(&path)).await;
        assert_eq!(browser.text("main h1").await, "Not Found", "{path}");
    }
    browser.goto(&plane.url("/dead-letters")).await;
    browser.element("#no-dead-letters").await;
    let entry = plane.dead_entry().await;
    let status = post_from_page(&browser, &format!("/dead-letters/{entry}/requeue")).await;
    assert_eq!(status, 404);
    assert_eq!(plane.entry_status().await, "DEAD_LETTER");
    plane.stop(browser).await;
}

/// Drives a run over the API with time between its parts, as an agent
/// would: three steps (the second with two tool calls side by side) and an
/// effect. Returns the run's id.
async fn live_run(plane: &Plane) -> String {
    let http = reqwest::Client::new();
    let post = |path: String, body: serde_json::Value| {
        let request = http
            .post(plane.url(&path))
            .bearer_auth(&plane.operator)
            .json(&body);
        async move {
            let answer = request.send().await.unwrap();
            assert!(answer.status().is_success(), "{path}: {}", answer.status());
            answer.json::<serde_json::Value>().await.unwrap()
        }
    };
    let id = |v: &serde_json::Value, field: &str| v[field].as_str().unwrap().to_owned();
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));
    let signal = json!({ "channel": "support", "source_id": "ticket-live" });
    let run = id(&post("/v1/signals".into(), signal).await, "run_id");
    post(format!("/v1/runs/{run}/start"), json!({})).await;
    for (kind, tools) in [
        ("plan", vec!["kb.search"]),
        ("lookup-order", vec!["orders.get", "shipping.track"]),
        ("reply", vec![]),
    ] {
        pause(60).await;
        let step = id(
            &post(
                format!("/v1/runs/{run}/steps"),
                json!({ "step_type": kind }),
            )
            .await,
            "id",
        );
        post(format!("/v1/steps/{step}/start"), json!({})).await;
        let mut calls = Vec::new();
        for tool in tools {
            let body = json!({ "tool_name": tool, "args": { "order": "O-1" } });
            calls.push(id(
                &post(format!("/v1/steps/{step}/tool-calls"), body).await,
                "id",
            ));
        }
        pause(150).await;
        for call in calls {
            let body = json!({ "result": { "ok": true } });
            post(format!("/v1/tool-calls/{call}/finish"), body).await;
        }
        post(
            format!("/v1/steps/{step}/complete"),
            json!({ "output": { "done": kind } }),
        )
        .await;
    }
    let effect = json!({ "effect_type": "CUSTOMER_NOTIFIED", "idempotency_key": "live-reply",
                         "destination": "notifications" });
    post(format!("/v1/runs/{run}/effects"), effect).await;
    post(format!("/v1/runs/{run}/complete"), json!({})).await;
    run
}

/// The `x` of each bar in the rows `css` selects, in page order.
async fn bar_starts(browser: &Browser, css: &str) -> Vec<f64> {
    let mut xs = Vec::new();
    for rect in browser.all(css).await {
        xs.push(rect.attr("x").await.unwrap().unwrap().parse().unwrap());
    }
    xs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_page_lays_spans_and_events_on_one_time_axis() {
    let plane = Plane::start().await;
    let run = live_run(&plane).await;
    let browser = plane.browser(&plane.operator, 1280, 1600).await;
    browser.element("#runs").await;
    browser.goto(&plane.url(&format!("/runs/{run}"))).await;
    assert_eq!(browser.text("#run-id").await, run);

    // Steps start later and later along the axis; each tool call starts
    // inside its step; the run's bar starts where its RUN_STARTED ticks.
    let steps = bar_starts(&browser, "#waterfall tr.span[data-depth='1'] rect").await;
    let rows = browser.texts("#waterfall tr.span th").await;
    assert_eq!(rows[0], "run");
    let run_bar = bar_starts(&browser, "#waterfall tr.span[data-depth='0'] rect").await;
    let started = bar_starts(&browser, "#events tr[data-event-type=RUN_STARTED] rect").await;
    assert_eq!(run_bar.len(), 1);
    assert!(
        (run_bar[0] - started[0]).abs() < 0.2,
        "{run_bar:?} {started:?}"
    );
    let step_rows: Vec<f64> = rows
        .iter()
        .zip(bar_starts(&browser, "#waterfall tr.span rect").await)
        .filter(|(label, _)| label.starts_with('#'))
        .map(|(_, x)| x)
        .collect();
    assert_eq!(step_rows.len(), 3, "{rows:?}");
    assert!(step_rows.windows(2).all(|w| w[0] < w[1]), "{step_rows:?}");
    assert!(steps.len() >= 3);
    let tools = bar_starts(&browser, "#waterfall tr.span[data-depth='2'] rect").await;
    assert_eq!(tools.len(), 3);
    assert!(tools[0] >= step_rows[0] && tools[1] >= step_rows[1] && tools[2] >= step_rows[1]);
    // Events tick along the same axis, from the signal at 0 to the last at
    // its end. (In log order, which is commit order: a transaction that
    // began earlier may commit later, so ticks need not only move right.)
    let ticks = bar_starts(&browser, "#events tr.event rect").await;
    assert_eq!(ticks[0], 0.0);
    assert!(
        ticks.iter().all(|x| (0.0..=1000.0).contains(x)),
        "{ticks:?}"
    );
    assert_eq!(ticks.iter().copied().fold(0.0, f64::max), 1000.0);
    assert!(ticks[ticks.len() / 2] > 100.0, "{ticks:?}");
    browser.screenshot("console-run.png").await;
    plane.stop(browser).await;
}
