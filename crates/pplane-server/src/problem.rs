//! Errors as RFC 9457 `application/problem+json` documents. Each kind has a
//! stable `type`; the `detail` is the store's message, which names what was
//! wrong and never carries SQL text. Faults of the plane itself are logged
//! here and reach the client as a bare 500.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use pplane_store::{Quota, StoreError};
use serde::Serialize;

/// A problem document, ready to send.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For a version conflict: the version the thing is at now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i32>,
}

/// The kinds of problem a client can match on, with their status and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    InvalidTransition,
    InvalidInput,
    PayloadTooLarge,
    TooManyRequests,
    /// A quota on what the tenant has waiting: pending effects.
    QuotaExceeded,
    /// A quota on what the tenant has waiting: their payload bytes.
    QuotaBytesExceeded,
    Internal,
}

impl Kind {
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use Kind::*;
        match self {
            Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Conflict => (StatusCode::CONFLICT, "conflict", "Conflict"),
            InvalidTransition => (
                StatusCode::CONFLICT,
                "invalid-transition",
                "Invalid state transition",
            ),
            InvalidInput => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-input",
                "Invalid input",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            QuotaExceeded => (
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                "Quota exceeded",
            ),
            QuotaBytesExceeded => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "quota-exceeded",
                "Quota exceeded",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        let (status, slug, title) = kind.parts();
        Problem {
            kind: format!("urn:pplane:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            current_version: None,
        }
    }

    /// Malformed request syntax (a body that is not JSON): 400.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::BAD_REQUEST.as_u16(),
            title: "Bad request",
            ..Problem::new(Kind::InvalidInput, detail)
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The one place the store's errors become HTTP statuses.
impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        use StoreError::*;
        let kind = match &e {
            NotFound { .. } => Kind::NotFound,
            VersionConflict { .. }
            | IdempotencyConflict { .. }
            | Conflict { .. }
            | Retry { .. } => Kind::Conflict,
            Transition(_)
            | RunFinished { .. }
            | RunUnsettled { .. }
            | StepNotRunning { .. }
            | NotDeadLetter { .. }
            | RetriesExhausted { .. }
            | RunFull { .. } => Kind::InvalidTransition,
            InvalidInput(_)
            | MissingReference { .. }
            | CauseUnknown { .. }
            | CauseElsewhere { .. }
            | Invalid { .. } => Kind::InvalidInput,
            PayloadTooLarge { .. } => Kind::PayloadTooLarge,
            QuotaExceeded { quota, .. } => match quota {
                Quota::PendingEffects => Kind::QuotaExceeded,
                Quota::PendingBytes => Kind::QuotaBytesExceeded,
            },
            // A key that names a non-member is as good as no key.
            NotMember(_) | ApiKeyRefused { .. } => Kind::Unauthorized,
            _ => Kind::Internal,
        };
        if kind == Kind::Internal {
            tracing::error!(error = %e, "request failed inside the plane");
            return Problem::new(kind, "the plane could not complete the request");
        }
        if kind == Kind::Unauthorized {
            return Problem::new(kind, "the API key is missing, unknown, revoked or expired");
        }
        let current_version = match &e {
            VersionConflict { current, .. } => *current,
            _ => None,
        };
        Problem {
            current_version,
            ..Problem::new(kind, e.to_string())
        }
    }
}
