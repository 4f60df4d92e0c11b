//! What a request carries, read so that its errors are problem documents: a
//! body that is not JSON is 400, a field of the wrong type or missing is 422
//! naming it, a body over the limit is 413 before it is read whole; a query
//! parameter of the wrong type is 422 naming it.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::problem::{Kind, Problem};
use crate::routes::{BODY_MAX, LANGGRAPH_BODY_MAX};

/// A JSON body of type `T`.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Body<T>, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(problem_of(rejection)),
        }
    }
}

fn problem_of(rejection: JsonRejection) -> Problem {
    let detail = rejection.body_text();
    match rejection.status() {
        // The framework's own wording names its buffering; say the limit.
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            Kind::PayloadTooLarge,
            format!(
                "the request body is over the limit of {BODY_MAX} bytes \
                 ({LANGGRAPH_BODY_MAX} for LangGraph checkpoints and writes)"
            ),
        ),
        StatusCode::UNPROCESSABLE_ENTITY => Problem::new(Kind::InvalidInput, detail),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem {
            status: 415,
            title: "Unsupported media type",
            ..Problem::new(Kind::InvalidInput, "send the body as application/json")
        },
        _ => Problem::bad_request(detail),
    }
}

/// A JSON body of type `T` that may be left out (no body at all): then `T`'s
/// default. For moves whose body only says who makes them. A body that is
/// there is read exactly as [`Body`] reads it.
pub struct BodyOrDefault<T>(pub T);

impl<S, T> FromRequest<S> for BodyOrDefault<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<BodyOrDefault<T>, Problem> {
        let headers = req.headers();
        let declared = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let absent = declared(header::CONTENT_TYPE).is_none()
            && declared(header::TRANSFER_ENCODING).is_none()
            && declared(header::CONTENT_LENGTH).is_none_or(|n| n.trim() == "0");
        if absent {
            return Ok(BodyOrDefault(T::default()));
        }
        let Body(value) = Body::from_request(req, state).await?;
        Ok(BodyOrDefault(value))
    }
}

/// Query parameters of type `T`.
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(Problem::new(Kind::InvalidInput, rejection.body_text())),
        }
    }
}
