//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds
//! shared/migrations at compile time, and Cargo does not otherwise notice a new file there.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
