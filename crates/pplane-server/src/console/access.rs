//! Who is looking: the session behind a request's cookie (or a redirect to
//! sign in), signing in and out, the cross-site checks on every POST, and
//! the console's errors as pages.

use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::header::{COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use pplane_domain::api_key::ApiKeyText;
use pplane_domain::ApiScope;
use pplane_store::operations::api_keys::{api_key_current, api_key_verify, ApiKey};
use pplane_store::TenantTx;
use serde::Deserialize;

use super::layout::{bare_page, Shell};
use super::sessions::{same_secret, Opened, COOKIE as SESSION_COOKIE, LIFETIME};
use crate::problem::Problem;
use crate::session::AppState;

/// A signed-in request: its tenant transaction (as the API opens it), and
/// who is looking.
pub struct Viewer {
    pub tx: TenantTx,
    pub who: Who,
}

/// The signed-in key and its console session.
pub struct Who {
    pub key: ApiKey,
    pub opened: Opened,
}

impl Who {
    /// The page frame for this viewer: its tenant, scope and sign-out form.
    pub fn shell(&self, title: &str, current: &'static str) -> Shell {
        Shell {
            title: title.to_owned(),
            current,
            tenant: self.opened.tenant.to_string(),
            scope: self.key.scope,
            csrf: self.opened.csrf.clone(),
        }
    }

    pub fn operator(&self) -> bool {
        self.key.scope >= ApiScope::Operator
    }

    /// Refuses (403) a key whose scope is below `needed`, in the API's words.
    pub fn require(&self, needed: ApiScope) -> Result<(), Failure> {
        if self.key.scope >= needed {
            return Ok(());
        }
        Err(Failure::page(
            StatusCode::FORBIDDEN,
            format!(
                "this key's scope is {}; this needs {needed}",
                self.key.scope
            ),
        ))
    }

    /// Refuses a form whose token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), Failure> {
        if same_secret(sent, &self.opened.csrf) {
            Ok(())
        } else {
            Err(Failure::page(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this console. Reload the page and try again.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, Failure> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/runs".into());
        let sign_in = || Failure::SignIn { next: next.clone() };
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(sign_in)?;
        let opened = state.console.find(&token).ok_or_else(sign_in)?;
        let mut tx = state.store.tenant_tx(opened.tenant, opened.user).await?;
        match api_key_current(&mut tx, opened.key).await {
            Ok(key) => Ok(Viewer {
                tx,
                who: Who { key, opened },
            }),
            Err(e) => {
                // Revoked or expired since sign-in: the session ends with it.
                state.console.close(&token);
                Err(Problem::from(e).into())
            }
        }
    }
}

/// How a console request fails: back to sign-in, or a page that says why.
#[derive(Debug)]
pub enum Failure {
    SignIn { next: String },
    Page { status: StatusCode, message: String },
}

impl Failure {
    pub fn page(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure::Page {
            status,
            message: message.into(),
        }
    }
}

/// The API's problems, as pages: the same statuses and the same words (the
/// store's message never carries SQL; internal faults are already generic).
impl From<Problem> for Failure {
    fn from(p: Problem) -> Failure {
        if p.status == StatusCode::UNAUTHORIZED.as_u16() {
            return Failure::SignIn {
                next: "/runs".into(),
            };
        }
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Failure::page(status, p.detail)
    }
}

impl From<pplane_store::StoreError> for Failure {
    fn from(e: pplane_store::StoreError) -> Failure {
        Problem::from(e).into()
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::SignIn { next } => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish();
                see_other(&format!("/sign-in?{query}"))
            }
            Failure::Page { status, message } => {
                let title = status.canonical_reason().unwrap_or("Error");
                let body = html! {
                    h1 { (title) }
                    p role="alert" { (message) }
                    p { a href="/runs" { "Back to runs" } }
                };
                (status, bare_page(title, body)).into_response()
            }
        }
    }
}

/// 303 See Other: after a POST, the browser GETs the target.
pub fn see_other(target: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(target) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /sign-in`: the key form.
pub async fn sign_in_page(Query(q): Query<NextQuery>) -> Response {
    sign_in_form(StatusCode::OK, &safe_next(q.next.as_deref()), None)
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    key: String,
    next: Option<String>,
}

/// `POST /sign-in`: the key checked as the API checks it, then exchanged for
/// a session cookie (HttpOnly, SameSite=Strict, Secure behind TLS).
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, Failure> {
    same_origin(&headers)?;
    let next = safe_next(form.next.as_deref());
    let refused = || {
        sign_in_form(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That key is unknown, revoked or expired."),
        )
    };
    let Ok(presented) = form.key.trim().parse::<ApiKeyText>() else {
        return Ok(refused());
    };
    let Ok(mut tx) = state
        .store
        .tenant_tx(presented.tenant, presented.user)
        .await
    else {
        return Ok(refused());
    };
    let key = match api_key_verify(&mut tx, &presented).await {
        Ok(key) => key,
        Err(e) => {
            let problem = Problem::from(e);
            if problem.status == StatusCode::UNAUTHORIZED.as_u16() {
                return Ok(refused());
            }
            return Err(problem.into());
        }
    };
    tx.commit().await?;
    let token = state.console.open(presented.tenant, presented.user, key.id);
    let secure = if served_over_tls(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        LIFETIME.as_secs()
    );
    Ok(see_other_setting(&next, &cookie))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// `POST /sign-out`: the session ends here and in the browser.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Failure> {
    same_origin(&headers)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Some(opened) = state.console.find(&token) {
            if same_secret(&form.csrf, &opened.csrf) {
                state.console.close(&token);
            }
        }
    }
    let gone = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(see_other_setting("/sign-in", &gone))
}

/// [`see_other`] that also sets a cookie.
fn see_other_setting(target: &str, cookie: &str) -> Response {
    let mut response = see_other(target);
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

fn sign_in_form(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in to pplane" }
        p { "Paste an API key (" code { "pplane apikey create" } "). The console shows its tenant only, and lets it do what its scope allows." }
        @if let Some(error) = error {
            p.error role="alert" id="sign-in-error" { (error) }
        }
        form.sign-in method="post" action="/sign-in" {
            input type="hidden" name="next" value=(next);
            label for="key" { "API key" }
            input #key type="password" name="key" autocomplete="off" required autofocus spellcheck="false";
            button type="submit" { "Sign in" }
        }
    };
    (status, bare_page("Sign in", body)).into_response()
}

/// Refuses a POST another site's page made: browsers send `Origin` on
/// POSTs, and `Sec-Fetch-Site` where they support it.
pub fn same_origin(headers: &HeaderMap) -> Result<(), Failure> {
    let refuse = || {
        Failure::page(
            StatusCode::FORBIDDEN,
            "This request came from another site; the console only takes forms from its own pages.",
        )
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Err(refuse());
        }
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(HOST).and_then(|v| v.to_str().ok());
        let origin_host = origin.split_once("://").map(|(_, h)| h);
        if origin_host.is_none() || origin_host != host {
            return Err(refuse());
        }
    }
    Ok(())
}

/// Whether the browser reached the server over TLS (through a proxy that
/// says so): the session cookie is then marked Secure.
fn served_over_tls(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
        || header("forwarded").is_some_and(|f| f.to_ascii_lowercase().contains("proto=https"))
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Where to go after sign-in or a form: a path of this console, never
/// another site (`//host` and `/\host` are other sites to a browser).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.into(),
        _ => "/runs".into(),
    }
}
