//! Delivery to receivers. Each attempt ends as a domain [`Attempt`]:
//! delivered, transient (try again) or permanent (dead-letter).
//!
//! - Webhook: a POST of the entry as JSON with `Idempotency-Key` and the
//!   Standard Webhooks headers; `webhook-id` is the outbox entry's id, so it
//!   stays the same across retries, and the body is the same bytes on every
//!   attempt.
//! - NATS JetStream: a publish with `Nats-Msg-Id` = the tenant-qualified
//!   idempotency key (and the bare key in `Idempotency-Key`); the stream
//!   drops a repeat inside its duplicate window and says so in the
//!   acknowledgement, which counts as delivered.

use std::time::Duration;

use bytes::Bytes;
use pplane_domain::delivery::{http_attempt, Attempt};
use pplane_store::operations::delivery::Claimed;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::config::WorkerConfig;
use crate::signing;

pub struct Sinks {
    http: reqwest::Client,
    nats_url: Option<String>,
    nats: OnceCell<async_nats::jetstream::Context>,
    timeout: Duration,
}

impl Sinks {
    pub fn new(config: &WorkerConfig) -> Result<Sinks, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // A receiver that redirects is misconfigured; following it would
            // send the signed body somewhere nobody registered.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pplane-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client: {e}"))?;
        Ok(Sinks {
            http,
            nats_url: config.nats_url.clone(),
            nats: OnceCell::new(),
            timeout: config.timeout,
        })
    }

    pub async fn deliver(&self, entry: &Claimed) -> Attempt {
        match (
            entry.destination_kind.as_deref(),
            entry.destination_target.as_deref(),
        ) {
            (Some("WEBHOOK"), Some(url)) => self.webhook(entry, url).await,
            (Some("NATS"), Some(subject)) => self.jetstream(entry, subject).await,
            (None, _) => Attempt::Permanent {
                reason: "the effect names no destination".into(),
            },
            (Some(kind), _) => Attempt::Permanent {
                reason: format!("unknown destination kind {kind}"),
            },
        }
    }

    async fn webhook(&self, entry: &Claimed, url: &str) -> Attempt {
        let Some(secret) = entry.destination_secret.as_deref() else {
            return Attempt::Permanent {
                reason: "the webhook destination has no signing secret".into(),
            };
        };
        let body = body_of(entry);
        let id = entry.id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match signing::sign(secret, &id, timestamp, &body) {
            Ok(s) => s,
            Err(e) => {
                return Attempt::Permanent {
                    reason: e.to_string(),
                }
            }
        };
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("idempotency-key", &entry.idempotency_key)
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after_parse);
                http_attempt(response.status().as_u16(), retry_after)
            }
            Err(e) if e.is_builder() => Attempt::Permanent {
                reason: format!("cannot send to {url}: {e}"),
            },
            Err(e) => Attempt::Transient {
                reason: format!(
                    "{}: {e}",
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection"
                    }
                ),
                retry_after: None,
            },
        }
    }

    async fn jetstream(&self, entry: &Claimed, subject: &str) -> Attempt {
        let context = match self.nats_context().await {
            Ok(c) => c,
            Err(reason) => {
                return Attempt::Transient {
                    reason,
                    retry_after: None,
                }
            }
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            nats_message_id(entry).as_str(),
        );
        headers.insert("Idempotency-Key", entry.idempotency_key.as_str());
        let published = async {
            context
                .publish_with_headers(subject.to_owned(), headers, body_of(entry))
                .await?
                .await
        };
        match tokio::time::timeout(self.timeout, published).await {
            Ok(Ok(ack)) => Attempt::Delivered {
                detail: format!(
                    "stream {} sequence {}{}",
                    ack.stream,
                    ack.sequence,
                    if ack.duplicate { " (duplicate)" } else { "" }
                ),
            },
            Ok(Err(e)) => Attempt::Transient {
                reason: format!("JetStream publish to {subject}: {e}"),
                retry_after: None,
            },
            Err(_) => Attempt::Transient {
                reason: format!("JetStream publish to {subject}: timeout"),
                retry_after: None,
            },
        }
    }

    async fn nats_context(&self) -> Result<&async_nats::jetstream::Context, String> {
        let url = self
            .nats_url
            .as_deref()
            .ok_or("a NATS destination needs the worker's --nats-url (or NATS_URL)")?;
        self.nats
            .get_or_try_init(|| async {
                let client = async_nats::ConnectOptions::new()
                    .connection_timeout(self.timeout)
                    .connect(url)
                    .await
                    .map_err(|e| format!("NATS at {url}: {e}"))?;
                Ok(async_nats::jetstream::new(client))
            })
            .await
    }
}

/// The JetStream deduplication id: the idempotency key, qualified by the
/// tenant. Keys are unique per tenant only, and one stream may carry several
/// tenants' messages: two tenants' equal keys must not dedupe each other.
pub fn nats_message_id(entry: &Claimed) -> String {
    format!("{}:{}", entry.tenant_id, entry.idempotency_key)
}

/// The entry as receivers get it; the same bytes on every attempt.
pub fn body_of(entry: &Claimed) -> Bytes {
    let body = json!({
        "type": entry.event_type,
        "timestamp": entry.created_at,
        "effect_id": entry.effect_id,
        "tenant_id": entry.tenant_id,
        "correlation_id": entry.correlation_id,
        "idempotency_key": entry.idempotency_key,
        "data": entry.payload,
    });
    Bytes::from(body.to_string())
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after_parse(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(retry_after_parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let wait = retry_after_parse(&later).unwrap();
        assert!(
            wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
        assert_eq!(retry_after_parse("soon"), None);
    }
}
