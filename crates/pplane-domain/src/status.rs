//! Lifecycle state sets, spelled as the database stores them (upper case).
//! The schema's CHECK constraints hold exactly these values; `pplane check
//! schema` compares the two, so they cannot drift apart.

use std::fmt;
use std::str::FromStr;

/// The value was not one of the set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be one of {allowed}, got {input:?}")]
pub struct StatusParseError {
    pub kind: &'static str,
    pub allowed: String,
    pub input: String,
}

macro_rules! state_set {
    ($(#[$doc:meta])* $name:ident => $label:literal { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StatusParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(StatusParseError {
                        kind: $label,
                        allowed: [$($text),*].join(", "),
                        input: s.to_owned(),
                    }),
                }
            }
        }
    };
}

state_set! {
    /// A run of an agent workflow.
    RunStatus => "run status" {
        Pending = "PENDING", Running = "RUNNING", Completed = "COMPLETED",
        Failed = "FAILED", Cancelled = "CANCELLED",
    }
}

state_set! {
    /// A step of a run. SKIPPED: the orchestrator decided not to run it.
    StepStatus => "step status" {
        Pending = "PENDING", Running = "RUNNING", Completed = "COMPLETED",
        Failed = "FAILED", Skipped = "SKIPPED", Cancelled = "CANCELLED",
    }
}

state_set! {
    /// A tool call made by a step.
    ToolCallStatus => "tool call status" {
        Pending = "PENDING", Running = "RUNNING", Completed = "COMPLETED",
        Failed = "FAILED", Cancelled = "CANCELLED",
    }
}

state_set! {
    /// An external effect. DEAD_LETTER: given up after its attempts ran out
    /// or on a permanent failure; an operator may requeue it.
    EffectStatus => "effect status" {
        Pending = "PENDING", Running = "RUNNING", Completed = "COMPLETED",
        Failed = "FAILED", DeadLetter = "DEAD_LETTER", Cancelled = "CANCELLED",
    }
}

state_set! {
    /// An outbox entry on its way to a receiver.
    OutboxStatus => "outbox status" {
        Pending = "PENDING", InFlight = "IN_FLIGHT", Delivered = "DELIVERED",
        DeadLetter = "DEAD_LETTER",
    }
}

state_set! {
    /// What an event (or an outbox entry) is about.
    AggregateType => "aggregate type" {
        Signal = "SIGNAL", Run = "RUN", Step = "STEP", ToolCall = "TOOL_CALL",
        Checkpoint = "CHECKPOINT", Effect = "EFFECT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text() {
        for s in EffectStatus::ALL {
            assert_eq!(s.as_str().parse::<EffectStatus>().unwrap(), *s);
        }
        for s in OutboxStatus::ALL {
            assert_eq!(s.to_string().parse::<OutboxStatus>().unwrap(), *s);
        }
    }

    #[test]
    fn unknown_values_list_the_allowed_ones() {
        let err = "done".parse::<RunStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "run status must be one of PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, got \"done\""
        );
    }
}
