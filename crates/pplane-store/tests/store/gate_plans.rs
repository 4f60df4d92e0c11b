//! The production gate's "uses an index" items judge the same at every
//! size: on a healthy database they pass with a few rows and with many;
//! with an index a query needs dropped, that query's item fails, on a small
//! table and on a large one, and the other items still pass.

use pplane_store::checks::gate::{debugging_plans, Verdict, PLAN_ROWS};
use pplane_store::queries::debugging::DEBUG_QUERIES;
use pplane_store::testing::TestDb;
use pplane_store::Admin;

use crate::debugging_indexes::populate;

/// A migrated database with one tenant holding `runs` runs (three steps,
/// their tool calls, an effect, its outbox entry and two events per run).
async fn plane(runs: u32) -> TestDb {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    populate(&mut db.admin().await, tenant, user, runs).await;
    db.exec("ANALYZE").await;
    db
}

/// The indexes of `table` whose leading columns are `columns`, each with
/// the statement that drops it (a constraint's index goes with its
/// constraint, and what depends on it with that).
async fn serving(admin: &mut Admin, table: &str, columns: &[&str]) -> Vec<(String, String)> {
    let rows: Vec<(String, Vec<String>, Option<String>)> = sqlx::query_as(
        "SELECT i.relname::text,
                ARRAY(SELECT a.attname::text FROM unnest(x.indkey[0:x.indnkeyatts - 1])
                      WITH ORDINALITY u(n, o)
                      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n
                      ORDER BY u.o),
                (SELECT c.conname::text FROM pg_constraint c
                 WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x'))
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid
         WHERE t.relname = $1 AND x.indpred IS NULL",
    )
    .bind(table)
    .fetch_all(admin.conn())
    .await
    .unwrap();
    rows.into_iter()
        .filter(|(_, cols, _)| cols.len() >= columns.len() && cols[..columns.len()] == *columns)
        .map(|(name, _, constraint)| {
            let drop = match constraint {
                Some(c) => format!("ALTER TABLE {table} DROP CONSTRAINT {c} CASCADE"),
                None => format!("DROP INDEX {name}"),
            };
            (name, drop)
        })
        .collect()
}

async fn verdicts(db: &TestDb) -> Vec<(String, Verdict, String)> {
    debugging_plans(&mut db.admin().await)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.item, i.verdict, i.evidence))
        .collect()
}

#[tokio::test]
async fn a_healthy_database_passes_at_every_size() {
    for runs in [1, 3, PLAN_ROWS as u32 + 100] {
        let db = plane(runs).await;
        for (item, verdict, evidence) in verdicts(&db).await {
            assert_eq!(verdict, Verdict::Pass, "{runs} runs: {item}: {evidence}");
        }
    }
}

#[tokio::test]
async fn each_needed_index_dropped_fails_its_items_on_small_and_large_tables() {
    let mut needs: Vec<(&str, &[&str])> = DEBUG_QUERIES
        .iter()
        .flat_map(|q| q.needs.iter().map(|n| (n.table, n.columns)))
        .collect();
    needs.dedup();
    needs.sort();
    needs.dedup();
    for runs in [3, PLAN_ROWS as u32 + 100] {
        for (table, columns) in &needs {
            let db = plane(runs).await;
            let mut admin = db.admin().await;
            let dropped = serving(&mut admin, table, columns).await;
            assert!(!dropped.is_empty(), "{table} {columns:?} has an index");
            for (_, drop) in &dropped {
                db.exec(&format!("SET ROLE pplane_owner; {drop}; RESET ROLE"))
                    .await;
            }
            // A query's item fails when one of its needs has no index left.
            let mut expected_fail = Vec::new();
            for q in DEBUG_QUERIES {
                let mut unserved = false;
                for n in q.needs {
                    unserved |= serving(&mut admin, n.table, n.columns).await.is_empty();
                }
                if unserved {
                    expected_fail.push(format!("uses an index: {}", q.name));
                }
            }
            assert!(!expected_fail.is_empty());
            for (item, verdict, evidence) in verdicts(&db).await {
                let want = if expected_fail.contains(&item) {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                };
                assert_eq!(
                    verdict, want,
                    "{runs} runs, {table} {columns:?} dropped: {item}: {evidence}"
                );
                if want == Verdict::Fail {
                    assert!(evidence.contains("no valid index on"), "{evidence}");
                }
            }
        }
    }
}
