// `sqlx::migrate!` embeds the migration files at compile time; rebuild when
// any of them changes so the binary never carries stale SQL.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
