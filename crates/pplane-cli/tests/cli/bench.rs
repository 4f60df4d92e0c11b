//! Benchmarks print our figure, the raw baseline's and the ratio, and leave
//! no scratch database behind.

use pplane_store::testing::TestDb;

use crate::support::{pplane, Home};

#[tokio::test]
async fn bench_rls_reports_each_scenario_against_its_baseline() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let args = [
        "bench",
        "rls",
        "--tenants",
        "2",
        "--rows-per-tenant",
        "200",
        "--iterations",
        "10",
        "--json",
    ];
    let run = pplane(home.path(), Some(db.url()), &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("bench: loading 2 tenants"),
        "progress goes to stderr: {run:?}"
    );
    let rows = run.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        for field in [
            "p50_ms",
            "p99_ms",
            "per_s",
            "raw_p99_ms",
            "raw_per_s",
            "ratio",
        ] {
            assert!(row[field].as_f64().unwrap() > 0.0, "{field} in {row}");
        }
        assert_eq!(row["concurrency"], 1);
        assert_eq!(row["tenants"], 2);
        let ratio = row["per_s"].as_f64().unwrap() / row["raw_per_s"].as_f64().unwrap();
        assert!((ratio - row["ratio"].as_f64().unwrap()).abs() < 1e-9);
    }
    let zero = pplane(
        home.path(),
        Some(db.url()),
        &["bench", "rls", "--iterations", "0"],
    );
    assert_eq!(zero.code, 2, "{zero:?}");
}
