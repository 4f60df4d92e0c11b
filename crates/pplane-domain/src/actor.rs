//! Who performed a mutation. Recorded on every runtime row and event
//! (walkthrough rule 5); the database's `actor_ref` domain enforces the same
//! form, so a value that parses here is always accepted there.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest actor the database column holds (`varchar(100)`).
pub const ACTOR_MAX_LEN: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An AI agent, by its id.
    Agent(String),
    /// A human user, by id.
    User(String),
    /// A component of this system, e.g. `system:outbox-worker`.
    System(String),
    /// An external system integration, by name.
    External(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    #[error(
        "actor {} must look like agent:ID, user:ID, system:COMPONENT or external:NAME \
         (no spaces or control characters)",
        crate::text::preview(.0)
    )]
    Form(String),
    #[error("actor {} is longer than {ACTOR_MAX_LEN} characters", crate::text::preview(.0))]
    TooLong(String),
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Agent(_) => "agent",
            Actor::User(_) => "user",
            Actor::System(_) => "system",
            Actor::External(_) => "external",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Actor::Agent(n) | Actor::User(n) | Actor::System(n) | Actor::External(n) => n,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.name())
    }
}

impl FromStr for Actor {
    type Err = ActorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.chars().count() > ACTOR_MAX_LEN {
            return Err(ActorError::TooLong(s.to_owned()));
        }
        let (kind, name) = s
            .split_once(':')
            .ok_or_else(|| ActorError::Form(s.to_owned()))?;
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ActorError::Form(s.to_owned()));
        }
        let name = name.to_owned();
        match kind {
            "agent" => Ok(Actor::Agent(name)),
            "user" => Ok(Actor::User(name)),
            "system" => Ok(Actor::System(name)),
            "external" => Ok(Actor::External(name)),
            _ => Err(ActorError::Form(s.to_owned())),
        }
    }
}

impl TryFrom<String> for Actor {
    type Error = ActorError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_forms_round_trip() {
        for text in [
            "agent:planner-7",
            "user:42",
            "system:outbox-worker",
            "external:stripe",
        ] {
            assert_eq!(text.parse::<Actor>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn other_forms_are_refused() {
        for text in [
            "",
            "agent",
            "agent:",
            "robot:x",
            "user:two words",
            "Agent:x",
        ] {
            assert!(text.parse::<Actor>().is_err(), "{text:?} must be refused");
        }
        let long = format!("agent:{}", "x".repeat(ACTOR_MAX_LEN));
        assert!(matches!(long.parse::<Actor>(), Err(ActorError::TooLong(_))));
    }
}
