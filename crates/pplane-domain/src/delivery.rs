//! Delivery of an outbox entry: what a receiver's answer means, and when to
//! try again.
//!
//! The backoff after the n-th failed attempt (n from 1) is
//!
//! ```text
//! delay(n) = min(cap, base · 2^(n−1)) · (1 − jitter / 2),   jitter ∈ [0, 1)
//! ```
//!
//! so each delay falls in the upper half of its exponential step ("equal
//! jitter"): retries of entries that failed together spread out, and none
//! comes back sooner than half its step. A receiver's `Retry-After` pushes
//! the next attempt later, never earlier. After `max_attempts` attempts, or
//! on a permanent failure, the entry is dead-lettered.

use std::time::Duration;

/// The longest `Retry-After` honoured; a longer one is treated as this.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(3600),
            max_attempts: 20,
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1-based); `jitter` in [0, 1).
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let step = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .map(|factor| self.base.saturating_mul(factor))
            .unwrap_or(self.cap)
            .min(self.cap);
        step.mul_f64(1.0 - jitter.clamp(0.0, 0.999_999) / 2.0)
    }
}

/// How one attempt went, as the sink saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver took it (for JetStream: stored, or a duplicate of a
    /// message it already stored).
    Delivered { detail: String },
    /// Worth another try: a timeout, a refused connection, 408, 425, 429, 5xx.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help: any other 4xx, a malformed destination.
    Permanent { reason: String },
}

/// What happens to the entry after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    RetryIn(Duration),
    DeadLetter,
}

impl Attempt {
    /// The verdict for attempt number `attempt` (1-based).
    pub fn verdict(&self, attempt: u32, backoff: &Backoff, jitter: f64) -> Verdict {
        match self {
            Attempt::Delivered { .. } => Verdict::Delivered,
            Attempt::Permanent { .. } => Verdict::DeadLetter,
            Attempt::Transient { .. } if attempt >= backoff.max_attempts => Verdict::DeadLetter,
            Attempt::Transient { retry_after, .. } => {
                let delay = backoff.delay(attempt, jitter);
                let asked = retry_after.map(|d| d.min(RETRY_AFTER_MAX));
                Verdict::RetryIn(asked.map_or(delay, |a| a.max(delay)))
            }
        }
    }

    /// Short kind for error histories and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Attempt::Delivered { .. } => "delivered",
            Attempt::Transient { .. } => "transient",
            Attempt::Permanent { .. } => "permanent",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Attempt::Delivered { detail } => detail,
            Attempt::Transient { reason, .. } | Attempt::Permanent { reason } => reason,
        }
    }
}

/// An HTTP status as a delivery attempt: 2xx delivered; 408, 425, 429 and
/// 5xx transient; anything else (other 4xx, a 3xx the client would not
/// follow) permanent.
pub fn http_attempt(status: u16, retry_after: Option<Duration>) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered {
            detail: format!("HTTP {status}"),
        },
        408 | 425 | 429 | 500..=599 => Attempt::Transient {
            reason: format!("HTTP {status}"),
            retry_after,
        },
        _ => Attempt::Permanent {
            reason: format!("HTTP {status}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
            max_attempts: 5,
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_takes_at_most_half() {
        let b = policy();
        let no_jitter: Vec<u64> = (1..=7).map(|n| b.delay(n, 0.0).as_secs()).collect();
        assert_eq!(no_jitter, [2, 4, 8, 16, 32, 60, 60]);
        for n in 1..=7 {
            let full = b.delay(n, 0.0);
            let most = b.delay(n, 0.999_999);
            assert!(
                most >= full / 2 && most < full,
                "attempt {n}: {most:?} of {full:?}"
            );
        }
        assert_eq!(
            b.delay(40, 0.0),
            b.cap,
            "a huge attempt number saturates at the cap"
        );
    }

    #[test]
    fn statuses_are_classified_as_the_standard_webhooks_practice_says() {
        for s in [200, 201, 204] {
            assert!(
                matches!(http_attempt(s, None), Attempt::Delivered { .. }),
                "{s}"
            );
        }
        for s in [408, 425, 429, 500, 502, 503] {
            assert!(
                matches!(http_attempt(s, None), Attempt::Transient { .. }),
                "{s}"
            );
        }
        for s in [301, 400, 401, 403, 404, 410, 422] {
            assert!(
                matches!(http_attempt(s, None), Attempt::Permanent { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn a_transient_failure_retries_until_the_attempts_run_out() {
        let b = policy();
        let failure = http_attempt(503, None);
        assert_eq!(
            failure.verdict(1, &b, 0.0),
            Verdict::RetryIn(Duration::from_secs(2))
        );
        assert_eq!(
            failure.verdict(4, &b, 0.0),
            Verdict::RetryIn(Duration::from_secs(16))
        );
        assert_eq!(failure.verdict(5, &b, 0.0), Verdict::DeadLetter);
        assert_eq!(
            http_attempt(404, None).verdict(1, &b, 0.0),
            Verdict::DeadLetter
        );
        assert_eq!(
            http_attempt(204, None).verdict(5, &b, 0.0),
            Verdict::Delivered
        );
    }

    #[test]
    fn retry_after_delays_but_never_hastens() {
        let b = policy();
        let later = http_attempt(429, Some(Duration::from_secs(30)));
        assert_eq!(
            later.verdict(1, &b, 0.0),
            Verdict::RetryIn(Duration::from_secs(30))
        );
        let sooner = http_attempt(429, Some(Duration::from_secs(1)));
        assert_eq!(
            sooner.verdict(3, &b, 0.0),
            Verdict::RetryIn(Duration::from_secs(8))
        );
        let absurd = http_attempt(503, Some(Duration::from_secs(10 * 86_400)));
        assert_eq!(
            absurd.verdict(1, &b, 0.0),
            Verdict::RetryIn(RETRY_AFTER_MAX)
        );
    }
}
