//! `pplane apikey create|list|limit|revoke`: keys for the HTTP API. A key
//! is created by (and acts as) a member of its tenant; its text is printed
//! once. A key may have its own request rate.

use std::process::ExitCode;

use chrono::Utc;
use pplane_domain::{ApiKeyId, ApiScope};
use pplane_store::operations::api_keys::{
    api_key_create, api_key_list, api_key_rate_set, api_key_revoke, KeyRate,
};
use pplane_store::TenantTx;
use serde_json::json;

use crate::acting::{id, Context};
use crate::args::{ApiKeyAction, KeyRateArgs, Member, Output, Scope};
use crate::duration::duration;
use crate::failure::Failure;
use crate::output;
use crate::output::outln;

pub async fn run(action: ApiKeyAction, out: Output) -> Result<ExitCode, Failure> {
    match action {
        ApiKeyAction::Create {
            member,
            scope,
            name,
            expires_in,
            rate,
        } => {
            let expires_at = expires_in
                .as_deref()
                .map(|text| duration("--expires-in", text))
                .transpose()?
                .map(|d| Utc::now() + d);
            let mut tx = begin(&member).await?;
            let mut created = api_key_create(&mut tx, &name, scope_of(scope), expires_at).await?;
            if let Some(rate) = key_rate(&rate) {
                created.key = api_key_rate_set(&mut tx, created.key.id, Some(rate)).await?;
            }
            tx.commit().await?;
            if out.json {
                output::json(&json!(created));
            } else {
                outln!("{}", created.text);
                eprintln!(
                    "key {} ({}, scope {}): shown only now; store it as a secret",
                    created.key.id, created.key.prefix, created.key.scope
                );
            }
        }
        ApiKeyAction::List { member } => {
            let mut tx = begin(&member).await?;
            let keys = api_key_list(&mut tx).await?;
            tx.commit().await?;
            output::json(&json!(keys));
        }
        ApiKeyAction::Limit {
            id: key,
            member,
            rate,
            default,
        } => {
            let key: ApiKeyId = id(&key)?;
            let rate = key_rate(&rate);
            if rate.is_none() && !default {
                return Err(Failure::Usage(
                    "give --rate N --burst N, or --default for the server's".into(),
                ));
            }
            let mut tx = begin(&member).await?;
            let limited = api_key_rate_set(&mut tx, key, rate).await?;
            tx.commit().await?;
            output::json(&json!(limited));
        }
        ApiKeyAction::Revoke { id: key, member } => {
            let key: ApiKeyId = id(&key)?;
            let mut tx = begin(&member).await?;
            let revoked = api_key_revoke(&mut tx, key).await?;
            tx.commit().await?;
            output::json(&json!(revoked));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn begin(member: &Member) -> Result<TenantTx, Failure> {
    Context::member(member)?.begin().await
}

fn key_rate(args: &KeyRateArgs) -> Option<KeyRate> {
    Some(KeyRate {
        per_s: args.rate?,
        burst: args.burst?,
    })
}

fn scope_of(scope: Scope) -> ApiScope {
    match scope {
        Scope::Read => ApiScope::Read,
        Scope::Runtime => ApiScope::Runtime,
        Scope::Operator => ApiScope::Operator,
    }
}
