//! Repositories: one module per aggregate, each a set of noun-first functions
//! (`tenant_create`, `membership_add`) that take `&mut PgConnection`, so they
//! join whatever transaction the caller holds. Every query filters by
//! `tenant_id` explicitly even though row-level security would: it keeps the
//! tenant index in use, it is a second line of defence, and on Citus it is
//! what routes a query to one shard.

pub mod tenants;
