//! What a rollback destroys. A down-migration that drops a table drops its
//! rows with it, the append-only event log included; `pplane migrate down`
//! says so, table by table with its row count, and goes ahead only when the
//! operator confirms. The objects are read from the down scripts themselves,
//! so a new migration needs no list kept by hand.

use serde::Serialize;
use sqlx::PgConnection;

use super::{down_plan, migration_history, verify_history, MigrationError, MigrationSet};

/// One table or column a rollback would drop, with what it holds now.
#[derive(Debug, Clone, Serialize)]
pub struct Loss {
    /// The migration whose rollback drops it.
    pub version: i64,
    /// `table NAME` or `column TABLE.NAME`.
    pub object: String,
    /// Rows of the table (of the column's table), as this login sees them;
    /// None when the table does not exist.
    pub rows: Option<i64>,
}

/// What going down to `target` would drop, newest migration first.
pub async fn migrate_down_losses(
    conn: &mut PgConnection,
    set: &MigrationSet,
    target: Option<i64>,
) -> Result<Vec<Loss>, MigrationError> {
    let applied = migration_history(conn).await?;
    verify_history(set, &applied)?;
    let mut losses = Vec::new();
    for m in down_plan(set, &applied, target) {
        for (table, column) in dropped(m.down.as_deref().unwrap_or_default()) {
            let rows = rows_of(conn, &table).await?;
            let object = match column {
                Some(c) => format!("column {table}.{c}"),
                None => format!("table {table}"),
            };
            losses.push(Loss {
                version: m.version,
                object,
                rows,
            });
        }
    }
    Ok(losses)
}

async fn rows_of(conn: &mut PgConnection, table: &str) -> Result<Option<i64>, MigrationError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(None);
    }
    // The name comes from our own migration files and was just resolved
    // as a relation; quoting each part keeps it an identifier.
    let quoted: Vec<String> = table
        .split('.')
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect();
    let n = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quoted.join(".")))
        .fetch_one(conn)
        .await?;
    Ok(Some(n))
}

/// The tables (column None) and columns a script drops, in order: `DROP
/// TABLE [IF EXISTS] a, b` and `ALTER TABLE t ... DROP COLUMN [IF EXISTS] c`.
fn dropped(sql: &str) -> Vec<(String, Option<String>)> {
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut found = Vec::new();
    for statement in code.split(';') {
        // A DO block's first statement comes after its `DO $tag$ BEGIN`.
        let words: Vec<String> = statement
            .split_whitespace()
            .map(|w| w.trim_matches(',').to_owned())
            .filter(|w| !w.is_empty())
            .skip_while(|w| {
                let w = w.to_lowercase();
                w == "do" || w == "begin" || w.starts_with('$')
            })
            .collect();
        let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        let is = |i: usize, w: &str| lower.get(i).is_some_and(|x| x == w);
        if is(0, "drop") && is(1, "table") {
            let start = if is(2, "if") && is(3, "exists") { 4 } else { 2 };
            for (i, name) in words.iter().enumerate().skip(start) {
                if matches!(lower[i].as_str(), "cascade" | "restrict") {
                    break;
                }
                found.push((name.clone(), None));
            }
        } else if is(0, "alter") && is(1, "table") {
            let table = if is(2, "if") && is(3, "exists") { 4 } else { 2 };
            let Some(table_name) = words.get(table) else {
                continue;
            };
            for i in 0..lower.len() {
                if is(i, "drop") && is(i + 1, "column") {
                    let at = if is(i + 2, "if") && is(i + 3, "exists") {
                        i + 4
                    } else {
                        i + 2
                    };
                    if let Some(column) = words.get(at) {
                        found.push((table_name.clone(), Some(column.clone())));
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::dropped;

    #[test]
    fn drops_are_read_from_the_script() {
        let sql = "-- DROP TABLE commented_out;\n\
                   SET LOCAL ROLE pplane_owner;\n\
                   DROP TABLE IF EXISTS a, b CASCADE;\n\
                   ALTER TABLE outbox_events DROP COLUMN attempt,\n  DROP COLUMN IF EXISTS lease;\n\
                   DROP INDEX x; DROP TABLE pplane_meta.c;\n\
                   DO $column$\nBEGIN\n    ALTER TABLE runs DROP COLUMN d;\nEND\n$column$;";
        let got = dropped(sql);
        let want: Vec<(String, Option<String>)> = vec![
            ("a".into(), None),
            ("b".into(), None),
            ("outbox_events".into(), Some("attempt".into())),
            ("outbox_events".into(), Some("lease".into())),
            ("pplane_meta.c".into(), None),
            ("runs".into(), Some("d".into())),
        ];
        assert_eq!(got, want);
    }
}
