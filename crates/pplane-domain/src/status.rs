//! Lifecycle state sets, spelled as the database stores them (upper case).
//! The schema's CHECK constraints hold exactly these values; `pplane check
//! schema` compares the two, so they cannot drift apart.

pub use crate::StatusParseError;

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
    /// What an API key may do, each including the one before it: `read`
    /// reads, `runtime` also drives runs, `operator` also operates the
    /// outbox. Declared in that order, so `scope >= ApiScope::Runtime` asks
    /// "may it drive runs".
    ApiScope => "API key scope" {
        Read = "read", Runtime = "runtime", Operator = "operator",
    }
}

state_set! {
    /// An operation the plane runs on a schedule (docs/jobs.md).
    Job => "job" {
        OutboxPurge = "outbox-purge", CheckpointPrune = "checkpoint-prune",
        ProjectionRefresh = "projection-refresh", BackupVerify = "backup-verify",
    }
}

state_set! {
    /// How a job's run stands: RUNNING until its holder records the end.
    JobResult => "job result" {
        Running = "RUNNING", Ok = "OK", Failed = "FAILED",
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
