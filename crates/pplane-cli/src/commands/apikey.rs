//! `pplane apikey create|list|revoke`: keys for the HTTP API. A key is
//! created by (and acts as) a member of its tenant; its text is printed once.

use std::process::ExitCode;

use chrono::{Duration, Utc};
use pplane_domain::{ApiKeyId, ApiScope};
use pplane_store::operations::api_keys::{api_key_create, api_key_list, api_key_revoke};
use pplane_store::TenantTx;
use serde_json::json;

use crate::acting::{id, Context};
use crate::args::{ApiKeyAction, Member, Output, Scope};
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
        } => {
            let expires_at = expires_in
                .as_deref()
                .map(duration)
                .transpose()?
                .map(|d| Utc::now() + d);
            let mut tx = begin(&member).await?;
            let created = api_key_create(&mut tx, &name, scope_of(scope), expires_at).await?;
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

fn scope_of(scope: Scope) -> ApiScope {
    match scope {
        Scope::Read => ApiScope::Read,
        Scope::Runtime => ApiScope::Runtime,
        Scope::Operator => ApiScope::Operator,
    }
}

/// `90s`, `30m`, `12h`, `30d`: a positive whole number and its unit.
fn duration(text: &str) -> Result<Duration, Failure> {
    let bad = || {
        Failure::Usage(format!(
            "--expires-in must be a number and a unit (s, m, h or d), like 30d; got {}",
            pplane_domain::text::preview(text)
        ))
    };
    let unit_at = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3_600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    seconds
        .filter(|s| *s <= 10 * 365 * 86_400)
        .map(Duration::seconds)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_number_and_a_unit() {
        assert_eq!(duration("90s").unwrap(), Duration::seconds(90));
        assert_eq!(duration("30d").unwrap(), Duration::days(30));
        for bad in ["", "d", "0h", "-1h", "1w", "1.5h", "99999999999d"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
