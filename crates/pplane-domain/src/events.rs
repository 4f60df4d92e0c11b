//! The event taxonomy (the role of CANON-EVENTS-001 §3.2): every state change
//! of every aggregate has exactly one event type. Names are upper case and
//! never change once released: replays depend on them. docs/events.md lists
//! each type with its aggregate and the fields of its `event_data`.

use crate::status::AggregateType;

/// The version of the `event_data` layouts written by this build. A layout
/// changes only by adding optional fields (same version); any other change is
/// a new version, and readers keep understanding every older one.
pub const EVENT_SCHEMA_VERSION: i16 = 1;

state_set! {
    /// What happened.
    EventType => "event type" {
        SignalReceived = "SIGNAL_RECEIVED",
        RunCreated = "RUN_CREATED",
        RunStarted = "RUN_STARTED",
        RunCompleted = "RUN_COMPLETED",
        RunFailed = "RUN_FAILED",
        RunCancelled = "RUN_CANCELLED",
        StepScheduled = "STEP_SCHEDULED",
        StepStarted = "STEP_STARTED",
        StepCompleted = "STEP_COMPLETED",
        StepFailed = "STEP_FAILED",
        StepRetryScheduled = "STEP_RETRY_SCHEDULED",
        StepSkipped = "STEP_SKIPPED",
        StepCancelled = "STEP_CANCELLED",
        ToolCallStarted = "TOOL_CALL_STARTED",
        ToolCallCompleted = "TOOL_CALL_COMPLETED",
        ToolCallFailed = "TOOL_CALL_FAILED",
        ToolCallCancelled = "TOOL_CALL_CANCELLED",
        CheckpointSaved = "CHECKPOINT_SAVED",
        CheckpointDeleted = "CHECKPOINT_DELETED",
        EffectRequested = "EFFECT_REQUESTED",
        EffectDispatched = "EFFECT_DISPATCHED",
        EffectSucceeded = "EFFECT_SUCCEEDED",
        EffectFailed = "EFFECT_FAILED",
        EffectDeadLettered = "EFFECT_DEAD_LETTERED",
        EffectRequeued = "EFFECT_REQUEUED",
        EffectCancelled = "EFFECT_CANCELLED",
    }
}

impl EventType {
    /// The aggregate an event of this type is about.
    pub fn aggregate(self) -> AggregateType {
        let name = self.as_str();
        if name.starts_with("SIGNAL_") {
            AggregateType::Signal
        } else if name.starts_with("RUN_") {
            AggregateType::Run
        } else if name.starts_with("STEP_") {
            AggregateType::Step
        } else if name.starts_with("TOOL_CALL_") {
            AggregateType::ToolCall
        } else if name.starts_with("CHECKPOINT_") {
            AggregateType::Checkpoint
        } else {
            AggregateType::Effect
        }
    }
}

impl EventType {
    /// The status an aggregate has right after this event, for the
    /// aggregates with a lifecycle (runs, steps, tool calls, effects); None
    /// for signals and checkpoints. The data-quality gate compares every
    /// entity's status with what its last event implies.
    pub fn implied_status(self) -> Option<&'static str> {
        use EventType::*;
        Some(match self {
            RunCreated | StepScheduled | StepRetryScheduled | EffectRequested | EffectRequeued => {
                "PENDING"
            }
            RunStarted | StepStarted | ToolCallStarted | EffectDispatched => "RUNNING",
            RunCompleted | StepCompleted | ToolCallCompleted | EffectSucceeded => "COMPLETED",
            RunFailed | StepFailed | ToolCallFailed | EffectFailed => "FAILED",
            RunCancelled | StepCancelled | ToolCallCancelled | EffectCancelled => "CANCELLED",
            StepSkipped => "SKIPPED",
            EffectDeadLettered => "DEAD_LETTER",
            SignalReceived | CheckpointSaved | CheckpointDeleted => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lifecycle_event_implies_a_status_of_its_aggregate() {
        use crate::status::{EffectStatus, RunStatus, StepStatus, ToolCallStatus};
        for t in EventType::ALL {
            let Some(status) = t.implied_status() else {
                assert!(matches!(
                    t.aggregate(),
                    AggregateType::Signal | AggregateType::Checkpoint
                ));
                continue;
            };
            let known = match t.aggregate() {
                AggregateType::Run => status.parse::<RunStatus>().is_ok(),
                AggregateType::Step => status.parse::<StepStatus>().is_ok(),
                AggregateType::ToolCall => status.parse::<ToolCallStatus>().is_ok(),
                AggregateType::Effect => status.parse::<EffectStatus>().is_ok(),
                _ => false,
            };
            assert!(known, "{t} implies {status}, not a status of its aggregate");
        }
    }

    #[test]
    fn every_event_type_names_its_aggregate() {
        assert_eq!(EventType::SignalReceived.aggregate(), AggregateType::Signal);
        assert_eq!(
            EventType::ToolCallFailed.aggregate(),
            AggregateType::ToolCall
        );
        assert_eq!(EventType::EffectRequeued.aggregate(), AggregateType::Effect);
        for t in EventType::ALL {
            assert!(t.as_str().starts_with(t.aggregate().as_str()), "{t}");
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
        }
    }
}
