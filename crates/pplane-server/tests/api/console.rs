//! The console over plain HTTP: its session cookie, the checks on every
//! POST, the end of a session, the runs list's filters, search and pages,
//! and the headers every page carries. (The browser specs, in the CLI's
//! suite, drive the same pages in Chromium.)

use pplane_domain::ApiScope;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{forged, Client, Served};

/// A browser-like client that does not follow redirects, so that each
/// answer's status and Location can be read.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Signs in with `key` (and extra headers); the answer.
async fn sign_in(base: &str, key: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = http()
        .post(format!("{base}/sign-in"))
        .form(&[("key", key), ("next", "/runs")]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The session cookie's `name=value`, from a sign-in that worked.
async fn session(c: &Client) -> String {
    let answer = sign_in(&c.base, c.key.as_deref().unwrap(), &[]).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer.headers()[SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn page(base: &str, cookie: &str, path: &str) -> (StatusCode, String) {
    let answer = http()
        .get(format!("{base}{path}"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    (status, answer.text().await.unwrap())
}

/// The CSRF token of the page's forms.
fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_owned()
}

/// The runs a list page shows, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("data-run=\"")
        .skip(1)
        .map(|rest| rest[..36].to_owned())
        .collect()
}

/// The target of the page's `rel` link (`next`, `prev`), unescaped.
fn link(html: &str, rel: &str) -> String {
    let tag = format!("rel=\"{rel}\" href=\"");
    let at = html.find(&tag).unwrap_or_else(|| panic!("no {rel} link")) + tag.len();
    let end = html[at..].find('"').unwrap() + at;
    html[at..end].replace("&amp;", "&")
}

#[tokio::test]
async fn a_key_becomes_an_http_only_strict_cookie_marked_secure_behind_tls() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Read).await;
    let key = c.key.clone().unwrap();

    let answer = sign_in(&c.base, &key, &[]).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/runs");
    let cookie = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    // The cookie holds a random token, not the key.
    assert!(!cookie.contains(&key[..40]));
    let behind_tls = sign_in(&c.base, &key, &[("x-forwarded-proto", "https")]).await;
    let cookie = behind_tls.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Signed in, a page; its headers allow nothing from elsewhere.
    let session = session(&c).await;
    let answer = http()
        .get(format!("{}/runs", c.base))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let headers = answer.headers();
    assert!(headers[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // Without the cookie: to sign-in, remembering where it was going.
    let answer = http()
        .get(format!("{}/runs?status=FAILED", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers()[LOCATION],
        "/sign-in?next=%2Fruns%3Fstatus%3DFAILED"
    );
    // A made-up cookie is no session.
    let (status, _) = page(&c.base, "pplane_console=00ff", "/runs").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    served.stop().await;
}

#[tokio::test]
async fn a_wrong_key_gets_no_session_and_next_never_leaves_the_console() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Operator).await;
    let key = c.key.clone().unwrap();
    let forged = forged(&key);
    for wrong in [forged.as_str(), "ppk_nonsense", ""] {
        let answer = sign_in(&c.base, wrong, &[]).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{wrong}");
        assert!(answer.headers().get(SET_COOKIE).is_none());
        let body = answer.text().await.unwrap();
        assert!(body.contains("unknown, revoked or expired"), "{body}");
    }
    // After sign-in, only a path of this console: never another site.
    for next in [
        "//evil.example/x",
        "https://evil.example",
        "/\\evil.example",
    ] {
        let answer = http()
            .post(format!("{}/sign-in", c.base))
            .form(&[("key", key.as_str()), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.headers()[LOCATION], "/runs", "{next}");
    }
    served.stop().await;
}

#[tokio::test]
async fn a_post_needs_the_sessions_token_and_the_consoles_origin() {
    let served = Served::start().await;
    let op = served.operator_with_effect().await;
    assert_eq!(served.settle_all(400).await, 1);
    let entries = op.get("/v1/outbox?status=DEAD_LETTER").await.expect(200);
    let entry = entries[0]["id"].as_str().unwrap().to_owned();
    let cookie = session(&op).await;
    let (_, html) = page(&op.base, &cookie, "/dead-letters").await;
    let token = csrf(&html);
    let requeue = |token: String, headers: Vec<(&'static str, String)>| {
        let mut request = http()
            .post(format!("{}/dead-letters/{entry}/requeue", op.base))
            .header(COOKIE, &cookie)
            .form(&[("csrf", token)]);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap().status() }
    };
    let wrong = "0".repeat(64);
    assert_eq!(requeue(wrong, vec![]).await, StatusCode::FORBIDDEN);
    let foreign = vec![("origin", "http://evil.example".to_owned())];
    assert_eq!(requeue(token.clone(), foreign).await, StatusCode::FORBIDDEN);
    let cross = vec![("sec-fetch-site", "cross-site".to_owned())];
    assert_eq!(requeue(token.clone(), cross).await, StatusCode::FORBIDDEN);
    let still = op.get("/v1/outbox?status=DEAD_LETTER").await.expect(200);
    assert_eq!(still.as_array().unwrap().len(), 1, "nothing was requeued");

    // With its token, from its own origin: requeued, and the page says so.
    let own = vec![
        ("origin", op.base.clone()),
        ("sec-fetch-site", "same-origin".to_owned()),
    ];
    let status = requeue(token, own).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = page(
        &op.base,
        &cookie,
        &format!("/dead-letters?requeued={entry}"),
    )
    .await;
    assert!(html.contains("data-status=\"PENDING\""), "{html}");
    assert!(html.contains("data-live"), "the page follows the entry");
    assert_eq!(
        op.get("/v1/outbox?status=PENDING").await.expect(200)[0]["id"],
        entry.as_str()
    );
    served.stop().await;
}

#[tokio::test]
async fn revoking_the_key_or_signing_out_ends_the_session() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Operator).await;
    let cookie = session(&c).await;
    assert_eq!(page(&c.base, &cookie, "/outbox").await.0, StatusCode::OK);
    let mut tx = served.store.tenant_tx(c.tenant, c.user).await.unwrap();
    pplane_store::operations::api_keys::api_key_revoke(&mut tx, c.key_id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        page(&c.base, &cookie, "/outbox").await.0,
        StatusCode::SEE_OTHER
    );

    let other = served.client(c.tenant, c.user, ApiScope::Read).await;
    let cookie = session(&other).await;
    let (status, html) = page(&c.base, &cookie, "/runs").await;
    assert_eq!(status, StatusCode::OK);
    let out = http()
        .post(format!("{}/sign-out", c.base))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        page(&c.base, &cookie, "/runs").await.0,
        StatusCode::SEE_OTHER
    );
    served.stop().await;
}

#[tokio::test]
async fn the_runs_list_filters_searches_and_pages_newest_first() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    let mut runs = Vec::new();
    for i in 0..120 {
        runs.push(c.run(&format!("batch-{i:03}")).await);
    }
    for run in &runs[..7] {
        c.post(&format!("/v1/runs/{run}/start"), json!({}))
            .await
            .expect(200);
        c.post(
            &format!("/v1/runs/{run}/fail"),
            json!({ "error": { "message": "boom" } }),
        )
        .await
        .expect(200);
    }
    let newest_first: Vec<String> = runs.iter().rev().cloned().collect();
    let cookie = session(&c).await;
    let list = |path: String| {
        let (base, cookie) = (c.base.clone(), cookie.clone());
        async move {
            let (status, html) = page(&base, &cookie, &path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {html}");
            html
        }
    };

    // Fifty a page, newest first; "Older" and "Newer" walk them.
    let first = list("/runs".into()).await;
    assert_eq!(listed(&first), newest_first[..50]);
    assert!(!first.contains("rel=\"prev\""));
    let older = link(&first, "next");
    assert_eq!(older, format!("/runs?before={}", newest_first[49]));
    let second = list(older).await;
    assert_eq!(listed(&second), newest_first[50..100]);
    let third = list(format!("/runs?before={}", newest_first[99])).await;
    assert_eq!(listed(&third), newest_first[100..]);
    assert!(!third.contains("rel=\"next\""), "the last page");
    let back = list(format!("/runs?after={}", newest_first[50])).await;
    assert_eq!(listed(&back), newest_first[..50]);

    // Filters and search.
    let failed = list("/runs?status=FAILED".into()).await;
    let mut expected: Vec<String> = runs[..7].to_vec();
    expected.reverse();
    assert_eq!(listed(&failed), expected);
    // Each listed run shows its status (the filter's own option names
    // FAILED too, so the badges are counted, not the word).
    assert_eq!(failed.matches("data-status=\"FAILED\"").count(), 7);
    // A page's links keep its filters.
    let filtered = list("/runs?status=PENDING&q=batch-0".into()).await;
    let newest_pending: Vec<String> = runs[7..100].iter().rev().cloned().collect();
    assert_eq!(listed(&filtered), newest_pending[..50]);
    let next = link(&filtered, "next");
    assert_eq!(
        next,
        format!(
            "/runs?status=PENDING&q=batch-0&before={}",
            newest_pending[49]
        )
    );
    assert_eq!(listed(&list(next).await), newest_pending[50..]);
    let by_source = list("/runs?q=batch-01".into()).await;
    assert_eq!(listed(&by_source).len(), 10, "batch-010 … batch-019");
    let wildcard = list("/runs?q=batch_%25".into()).await;
    assert!(listed(&wildcard).is_empty(), "LIKE's wildcards are literal");
    let by_id = list(format!("/runs?q={}", runs[42])).await;
    assert_eq!(listed(&by_id), [runs[42].clone()]);
    let view = c.get(&format!("/v1/runs/{}", runs[42])).await.expect(200);
    let correlation = view["run"]["correlation_id"].as_str().unwrap();
    let by_correlation = list(format!("/runs?correlation={correlation}")).await;
    assert_eq!(listed(&by_correlation), [runs[42].clone()]);
    let later = (chrono::Utc::now() + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M");
    assert!(listed(&list(format!("/runs?since={later}")).await).is_empty());
    assert_eq!(
        listed(&list(format!("/runs?until={later}")).await).len(),
        50
    );
    let earlier = (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M");
    assert!(listed(&list(format!("/runs?until={earlier}")).await).is_empty());

    // A filter that is not one: 422, naming it; no runs listed.
    for (query, named) in [
        ("since=yesterday", "from"),
        ("status=LOST", "status"),
        ("correlation=nope", "correlation id"),
        ("before=nope", "before"),
    ] {
        let (status, html) = page(&c.base, &cookie, &format!("/runs?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(html.contains(named), "{query}: {html}");
        assert!(listed(&html).is_empty());
    }
    served.stop().await;
}

#[tokio::test]
async fn the_outbox_page_counts_its_own_tenant_only() {
    let served = Served::start().await;
    let mine = served.tenant(ApiScope::Operator).await;
    let theirs = served.tenant(ApiScope::Operator).await;
    let run = mine.started_run_with_destination().await;
    for key in ["a", "b"] {
        mine.post(
            &format!("/v1/runs/{run}/effects"),
            json!({ "effect_type": "E", "idempotency_key": key, "destination": "d" }),
        )
        .await
        .expect(201);
    }
    served
        .store
        .tenant_quota_set(mine.tenant, Some(50), None)
        .await
        .unwrap();
    let (_, html) = page(&mine.base, &session(&mine).await, "/outbox").await;
    assert!(html.contains("2 of 50 pending effects"), "{html}");
    assert_eq!(served.deliver_all().await, 2);
    let (_, html) = page(&mine.base, &session(&mine).await, "/outbox").await;
    assert!(html.contains("2 delivered in the last hour"), "{html}");
    assert!(html.contains("0 of 50 pending effects"), "{html}");
    let (_, html) = page(&theirs.base, &session(&theirs).await, "/outbox").await;
    assert!(html.contains("0 delivered in the last hour"), "{html}");
    assert!(html.contains("0 of 100000 pending effects"), "{html}");
    served.stop().await;
}
