//! `paygate-bench`: the end-to-end benchmark (see `paygate_e2e::bench` and README.md,
//! "Benchmark"). Run it in release:
//! `cargo build --release --workspace --bins && target/release/paygate-bench`.

use clap::Parser;
use paygate_e2e::bench::{self, BenchArgs};

fn main() -> anyhow::Result<()> {
    let args = BenchArgs::parse();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench::run(args))
}
