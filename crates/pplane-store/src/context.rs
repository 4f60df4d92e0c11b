//! How a transaction takes on its role and tenant context, per profile.
//!
//! On one server the role, `app.tenant_id`, `app.user_id` and the
//! membership check (migration 10) travel with BEGIN as one simple query:
//! one round trip. On Citus the workers need the context too, and Citus
//! forwards a `SET LOCAL` by replaying *the whole query text it came in* on
//! every worker connection the transaction opens; a BEGIN or a function call
//! in that text would run again on the worker (and fail there: "there is
//! already a transaction in progress", "cannot execute a distributed query
//! from a query on a shard"). So on Citus the context is set twice: first
//! with `set_config` (never forwarded) together with BEGIN and the check,
//! then with a query holding nothing but the `SET LOCAL`s the workers need:
//! two round trips. The role is not forwarded at all: Citus opens its worker
//! connections as the current role.

use pplane_domain::{TenantId, UserId};
use sqlx::PgConnection;

/// The shape of the database the store works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// One PostgreSQL server.
    SingleNode,
    /// A Citus coordinator: the tenant tables are distributed (migration 14).
    Citus,
}

impl Profile {
    /// The profile of the database `conn` is on: Citus when it has the
    /// extension. The one place that asks; the migration runner, the gates
    /// and the benchmarks ask through it too.
    pub(crate) async fn detect(conn: &mut PgConnection) -> Result<Profile, sqlx::Error> {
        let citus: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
        )
        .fetch_one(conn)
        .await?;
        Ok(if citus {
            Profile::Citus
        } else {
            Profile::SingleNode
        })
    }

    /// The simple queries that give a transaction `context`, in order; the
    /// first begins the transaction when `begin` is true.
    pub(crate) fn statements(self, begin: bool, context: &Context) -> Vec<String> {
        let start = if begin { "BEGIN; " } else { "" };
        let check = if context.checks_membership() {
            "SELECT tenant_member_check()"
        } else {
            ""
        };
        match self {
            Profile::SingleNode => {
                let sets: String = context
                    .settings()
                    .iter()
                    .map(|(name, value)| format!("SET LOCAL {name} = {value}; "))
                    .collect();
                // The store moves its tenants' pending counts itself:
                // migration 24's triggers count only what others write.
                // (On Citus there are no such triggers.)
                let writer = "SET LOCAL app.writer = 'store'; ";
                vec![format!("{start}{sets}{writer}{check}")]
            }
            Profile::Citus => {
                let configs: Vec<String> = context
                    .settings()
                    .iter()
                    .map(|(name, value)| format!("set_config('{name}', {value}, true)"))
                    .collect();
                let mut first = start.to_string();
                if !configs.is_empty() {
                    first += &format!("SELECT {}; ", configs.join(", "));
                }
                first += check;
                let forwarded: Vec<String> = context
                    .settings()
                    .iter()
                    .filter(|(name, _)| *name != "role")
                    .map(|(name, value)| format!("SET LOCAL {name} = {value}"))
                    .collect();
                let mut out = vec![first];
                if !forwarded.is_empty() {
                    out.push(forwarded.join("; "));
                }
                out
            }
        }
    }

    /// Switches to `role` for the rest of the transaction, as a statement
    /// that may share a query with others on either profile.
    pub(crate) fn role_statement(self, role: &str) -> String {
        match self {
            Profile::SingleNode => format!("SET LOCAL ROLE {role}"),
            Profile::Citus => format!("SELECT set_config('role', '{role}', true)"),
        }
    }
}

/// Who a transaction acts as: a role to switch to, and the tenant and
/// principal the policies check. Formatted from typed ids and the plane's
/// own role names only, never from raw input (SET takes no parameters).
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    pub role: Option<&'static str>,
    pub tenant: Option<TenantId>,
    pub user: Option<UserId>,
}

impl Context {
    /// A principal acting in a tenant is checked for membership.
    fn checks_membership(&self) -> bool {
        self.tenant.is_some() && self.user.is_some()
    }

    /// Each setting's name and its SQL literal.
    fn settings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(role) = self.role {
            out.push(("role", format!("'{role}'")));
        }
        if let Some(tenant) = self.tenant {
            out.push(("app.tenant_id", format!("'{}'", tenant.as_uuid())));
        }
        if let Some(user) = self.user {
            out.push(("app.user_id", format!("'{}'", user.as_uuid())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_in(tenant: TenantId, user: UserId) -> Context {
        Context {
            role: Some("pplane_app"),
            tenant: Some(tenant),
            user: Some(user),
        }
    }

    #[test]
    fn one_server_sets_everything_in_one_query() {
        let (t, u) = (TenantId::new(), UserId::new());
        let got = Profile::SingleNode.statements(true, &app_in(t, u));
        assert_eq!(
            got,
            [format!(
                "BEGIN; SET LOCAL role = 'pplane_app'; SET LOCAL app.tenant_id = '{}'; \
                 SET LOCAL app.user_id = '{}'; SET LOCAL app.writer = 'store'; \
                 SELECT tenant_member_check()",
                t.as_uuid(),
                u.as_uuid()
            )]
        );
    }

    #[test]
    fn on_citus_the_forwarded_query_holds_only_set_local() {
        let (t, u) = (TenantId::new(), UserId::new());
        let got = Profile::Citus.statements(true, &app_in(t, u));
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with("BEGIN; SELECT set_config('role', 'pplane_app', true)"));
        assert!(got[0].ends_with("SELECT tenant_member_check()"));
        assert!(!got[0].contains("SET LOCAL"), "{}", got[0]);
        assert_eq!(
            got[1],
            format!(
                "SET LOCAL app.tenant_id = '{}'; SET LOCAL app.user_id = '{}'",
                t.as_uuid(),
                u.as_uuid()
            )
        );
        let role_only = Context {
            role: Some("pplane_dispatcher"),
            ..Context::default()
        };
        assert_eq!(
            Profile::Citus.statements(true, &role_only),
            ["BEGIN; SELECT set_config('role', 'pplane_dispatcher', true); "]
        );
    }
}
