//! The state machines of runs, steps, tool calls and effects: which moves are
//! legal. Pure functions; the store calls them before it writes, so an illegal
//! move is a typed error and nothing is written.
//!
//! ```text
//! run:       PENDING -> RUNNING -> COMPLETED | FAILED | CANCELLED;  PENDING -> CANCELLED
//! step:      PENDING -> RUNNING -> COMPLETED | FAILED | CANCELLED;  PENDING -> SKIPPED | CANCELLED
//!            FAILED -> PENDING (a retry, while attempts remain)
//! tool call: PENDING -> RUNNING -> COMPLETED | FAILED | CANCELLED;  PENDING -> CANCELLED
//! effect:    PENDING -> RUNNING (dispatched) -> COMPLETED | FAILED | DEAD_LETTER | PENDING (lease released)
//!            FAILED -> RUNNING (retry) | DEAD_LETTER;  DEAD_LETTER -> PENDING (requeued)
//!            PENDING | FAILED -> CANCELLED
//! ```

use crate::status::{EffectStatus, RunStatus, StepStatus, ToolCallStatus};

/// A move the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal {entity} transition {from} -> {to}")]
pub struct TransitionError {
    pub entity: &'static str,
    pub from: &'static str,
    pub to: &'static str,
}

/// A lifecycle: its states and the moves between them.
pub trait Lifecycle: Copy + Eq + std::fmt::Debug {
    const ENTITY: &'static str;

    fn allows(self, to: Self) -> bool;

    fn name(self) -> &'static str;

    /// Ok when `self -> to` is legal.
    fn check(self, to: Self) -> Result<(), TransitionError> {
        if self.allows(to) {
            Ok(())
        } else {
            Err(TransitionError {
                entity: Self::ENTITY,
                from: self.name(),
                to: to.name(),
            })
        }
    }

    /// A state nothing leaves (except an operator's requeue of a dead letter).
    fn is_terminal(self) -> bool;
}

impl Lifecycle for RunStatus {
    const ENTITY: &'static str = "run";

    fn allows(self, to: Self) -> bool {
        use RunStatus::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Cancelled)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, Cancelled)
        )
    }

    fn name(self) -> &'static str {
        self.as_str()
    }

    fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl Lifecycle for StepStatus {
    const ENTITY: &'static str = "step";

    fn allows(self, to: Self) -> bool {
        use StepStatus::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Skipped)
                | (Pending, Cancelled)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, Cancelled)
                | (Failed, Pending)
        )
    }

    fn name(self) -> &'static str {
        self.as_str()
    }

    fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Completed | StepStatus::Skipped | StepStatus::Cancelled
        )
    }
}

impl Lifecycle for ToolCallStatus {
    const ENTITY: &'static str = "tool call";

    fn allows(self, to: Self) -> bool {
        use ToolCallStatus::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Cancelled)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, Cancelled)
        )
    }

    fn name(self) -> &'static str {
        self.as_str()
    }

    fn is_terminal(self) -> bool {
        matches!(
            self,
            ToolCallStatus::Completed | ToolCallStatus::Failed | ToolCallStatus::Cancelled
        )
    }
}

impl Lifecycle for EffectStatus {
    const ENTITY: &'static str = "effect";

    fn allows(self, to: Self) -> bool {
        use EffectStatus::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Cancelled)
                | (Running, Completed)
                | (Running, Failed)
                | (Running, DeadLetter)
                | (Running, Pending)
                | (Failed, Running)
                | (Failed, DeadLetter)
                | (Failed, Cancelled)
                | (DeadLetter, Pending)
        )
    }

    fn name(self) -> &'static str {
        self.as_str()
    }

    fn is_terminal(self) -> bool {
        matches!(self, EffectStatus::Completed | EffectStatus::Cancelled)
    }
}

/// How many times a failed step may be retried, and when the next attempt is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay_ms: 1_000,
            max_delay_ms: 60_000,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based): base × 2^(attempt-1),
    /// capped; None once the retries are used up.
    pub fn delay_ms(&self, attempt: u32) -> Option<u64> {
        if attempt == 0 || attempt > self.max_retries {
            return None;
        }
        let factor = 1u64.checked_shl(attempt - 1).unwrap_or(u64::MAX);
        Some(
            self.base_delay_ms
                .saturating_mul(factor)
                .min(self.max_delay_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of states is either an allowed move or a typed error.
    fn legal_moves<S: Lifecycle>(all: &[S]) -> Vec<(S, S)> {
        let mut moves = Vec::new();
        for &from in all {
            for &to in all {
                match from.check(to) {
                    Ok(()) => moves.push((from, to)),
                    Err(e) => assert_eq!(
                        (e.from, e.to, e.entity),
                        (from.name(), to.name(), S::ENTITY)
                    ),
                }
            }
        }
        moves
    }

    #[test]
    fn runs_move_forward_only() {
        use RunStatus::*;
        assert_eq!(
            legal_moves(RunStatus::ALL),
            [
                (Pending, Running),
                (Pending, Cancelled),
                (Running, Completed),
                (Running, Failed),
                (Running, Cancelled)
            ]
        );
        assert_eq!(
            Completed.check(Running).unwrap_err().to_string(),
            "illegal run transition COMPLETED -> RUNNING"
        );
        assert!(RunStatus::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .all(|s| RunStatus::ALL.iter().all(|t| !s.allows(*t))));
    }

    #[test]
    fn a_failed_step_may_return_to_pending_for_a_retry() {
        use StepStatus::*;
        assert!(Failed.allows(Pending));
        assert!(!Completed.allows(Pending));
        assert!(!Skipped.allows(Running));
        assert_eq!(legal_moves(StepStatus::ALL).len(), 7);
    }

    #[test]
    fn effects_can_be_requeued_from_dead_letter_only_to_pending() {
        use EffectStatus::*;
        assert!(DeadLetter.allows(Pending));
        assert!(!DeadLetter.allows(Running));
        assert!(!Completed.allows(Pending));
        assert_eq!(legal_moves(EffectStatus::ALL).len(), 10);
        assert_eq!(legal_moves(ToolCallStatus::ALL).len(), 5);
    }

    #[test]
    fn retry_delays_double_up_to_the_cap_then_stop() {
        let policy = RetryPolicy {
            max_retries: 5,
            base_delay_ms: 1000,
            max_delay_ms: 5000,
        };
        let delays: Vec<_> = (1..=6).map(|a| policy.delay_ms(a)).collect();
        assert_eq!(
            delays,
            [
                Some(1000),
                Some(2000),
                Some(4000),
                Some(5000),
                Some(5000),
                None
            ]
        );
        assert_eq!(policy.delay_ms(0), None);
    }
}
