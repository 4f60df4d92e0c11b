//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! the types they take and answer, served at `/openapi.json` and committed
//! as `openapi.json` at the repository root (a test keeps the two equal).
//!
//! Every `/v1` operation answers problem documents for the errors its
//! method can meet; they are added here, in one place, rather than repeated
//! on each handler.

use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref};
use utoipa::{Modify, OpenApi};

use crate::problem::Problem;
use crate::routes::{effects, events, health, langgraph, runs, signals, steps};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pplane",
        description = "The persistence plane for AI-agent orchestration: signals, runs, steps, \
                       tool calls, checkpoints, effects through the outbox, and the tenant's \
                       event log. Every request acts in one tenant as one principal, with an \
                       API key bound to both.",
        license(name = "Apache-2.0"),
    ),
    paths(
        health::alive, health::ready,
        signals::ingest,
        runs::show, runs::start, runs::complete, runs::fail, runs::cancel,
        runs::step_add, runs::checkpoint_save, runs::checkpoint_list, runs::checkpoint_latest,
        steps::start, steps::complete, steps::fail, steps::retry, steps::skip, steps::cancel,
        steps::tool_call_start, steps::tool_call_finish,
        effects::request, effects::show, effects::run_diagnosis,
        effects::destination_add, effects::destinations,
        effects::outbox, effects::stats, effects::requeue, effects::purge,
        events::page, events::trace,
        langgraph::checkpoint_put, langgraph::writes_put, langgraph::tuple_get, langgraph::search,
        langgraph::thread_delete, langgraph::runs_delete, langgraph::thread_copy, langgraph::prune,
    ),
    components(schemas(Problem)),
    modifiers(&Problems),
    tags(
        (name = "probes", description = "Liveness and readiness; no key"),
        (name = "signals", description = "Inbound signals: the start of every run"),
        (name = "runs", description = "A run's lifecycle"),
        (name = "steps", description = "A run's steps"),
        (name = "tool-calls", description = "The tool calls a step makes"),
        (name = "checkpoints", description = "What a resume needs"),
        (name = "effects", description = "External effects, through the outbox"),
        (name = "destinations", description = "Where a tenant's effects go"),
        (name = "outbox", description = "The operator's view of the outbox"),
        (name = "events", description = "The event log and traces"),
        (name = "langgraph", description = "LangGraph's checkpointer protocol: threads, checkpoints, pending writes"),
    ),
)]
pub struct ApiDoc;

/// The document as served and committed.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// Adds the key's security scheme and, to every `/v1` operation, the
/// problem responses its method can meet.
struct Problems;

impl Modify for Problems {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ppk_…")
                    .description(Some(
                        "An API key from `pplane apikey create`, bound to one tenant, one \
                         principal and one scope (read < runtime < operator).",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            for (method, operation) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
            ] {
                let Some(operation) = operation else { continue };
                let mut errors = vec![
                    (
                        "401",
                        "No key, or a malformed, unknown, revoked or expired one",
                    ),
                    ("403", "The key's scope is below this operation's"),
                    ("404", "Nothing with this id in the key's tenant"),
                    (
                        "422",
                        "A field or id is missing, of the wrong type or malformed",
                    ),
                    (
                        "429",
                        "Over the key's or the tenant's request rate: retry after Retry-After \
                         seconds; or (quota-exceeded) an effect past the tenant's quota of \
                         pending effects",
                    ),
                ];
                if method == HttpMethod::Post {
                    errors.extend([
                        ("400", "The body is not JSON"),
                        ("409", "A version conflict, a reused idempotency key, or a refused state change"),
                        (
                            "413",
                            "The body or a field is over its limit; or (quota-exceeded) an \
                             effect's payload past the tenant's quota of pending bytes",
                        ),
                        ("415", "The body is not application/json"),
                    ]);
                }
                for (status, description) in errors {
                    let response = ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/problem+json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build(),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert(response.into());
                }
            }
        }
    }
}
