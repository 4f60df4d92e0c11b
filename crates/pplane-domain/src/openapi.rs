//! JSON Schemas of the vocabulary, for the HTTP API's OpenAPI document: an
//! id is a UUID string, a state set an enumeration of its spellings, an
//! actor a string of its four forms.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

pub(crate) fn uuid_schema(label: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .description(Some(format!("A {label} (UUIDv7).")))
        .into()
}

pub(crate) fn enum_schema(label: &str, values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(format!("A {label}.")))
        .into()
}

impl utoipa::PartialSchema for crate::Actor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^(agent|user|system|external):\S+$"))
            .max_length(Some(crate::actor::ACTOR_MAX_LEN))
            .description(Some(
                "Who acted: agent:{id}, user:{id}, system:{component} or external:{name}.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for crate::Actor {}
