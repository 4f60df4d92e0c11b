//! Commands run at the same time succeed as if run one after another:
//! identical effect requests return the one effect, steps appended together
//! each get the next index, and two `pplane db start` on a fresh machine
//! both end with the one cluster running.

use std::thread;

use pplane_store::testing::TestDb;

use crate::support::{pplane, Home, Run, Started};

/// Runs `count` copies of a command at once; returns every result.
fn at_once(count: usize, each: impl Fn(usize) -> Run + Sync) -> Vec<Run> {
    thread::scope(|s| {
        let each = &each;
        let handles: Vec<_> = (0..count).map(|i| s.spawn(move || each(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[tokio::test]
async fn ten_identical_effect_requests_at_once_all_return_the_one_effect() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let add = p.run(
        home.path(),
        url,
        &[
            "destination",
            "add",
            "hook",
            "--webhook",
            "https://example.com/h",
        ],
    );
    assert_eq!(add.code, 0, "{add:?}");
    let runs = at_once(10, |_| {
        p.run(
            home.path(),
            url,
            &[
                "run",
                "effect",
                &p.run,
                "--type",
                "NOTIFY",
                "--key",
                "same",
                "--destination",
                "hook",
                "--spec",
                r#"{"to":"c@example.com"}"#,
            ],
        )
    });
    let ids: Vec<String> = runs
        .iter()
        .map(|r| {
            assert_eq!(r.code, 0, "{r:?}");
            r.json()["effect"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let fresh = runs
        .iter()
        .filter(|r| r.json()["duplicate"] == false)
        .count();
    assert_eq!(fresh, 1);
}

#[tokio::test]
async fn eight_steps_appended_at_once_each_get_the_next_index() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let runs = at_once(8, |i| {
        let step_type = format!("fan-{i}");
        p.run(
            home.path(),
            url,
            &["run", "step", "add", &p.run, "--type", &step_type],
        )
    });
    let mut indexes: Vec<i64> = runs
        .iter()
        .map(|r| {
            assert_eq!(r.code, 0, "{r:?}");
            r.json()["step_index"].as_i64().unwrap()
        })
        .collect();
    indexes.sort();
    assert_eq!(indexes, (0..8).collect::<Vec<_>>());
}

#[tokio::test]
async fn two_db_starts_at_once_on_a_fresh_home_both_succeed() {
    let home = Home::new();
    let runs = at_once(2, |_| pplane(home.path(), None, &["db", "start"]));
    for r in &runs {
        assert_eq!(r.code, 0, "{r:?}");
    }
    let status = pplane(home.path(), None, &["db", "status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("running"), "{status:?}");
}
