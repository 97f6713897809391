//! The floor (../shared/bench/floor): the same durable work as a payment with no logic. The bench
//! runs its `pipeline` mode in the same run, on a database and a vhost of its own (so it never
//! meets another engineer's floor run in the shared `postgres` database or `/` vhost), and reads
//! its `payments/s` as the denominator of the ratio.

use super::stats::Milli;
use anyhow::{Context, bail};
use paygate_test_support::{TestDb, TestVhost};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// How to run the floor.
#[derive(Debug, Clone)]
pub struct FloorRun {
    pub bin: PathBuf,
    /// `quorum`, like paygate's queues.
    pub queue_type: String,
    pub count: u64,
    pub consumers: u32,
    pub prefetch: u32,
    pub pool: u32,
    pub max_secs: u64,
}

/// What the floor measured.
#[derive(Debug, Clone)]
pub struct FloorResult {
    pub payments_per_sec: Milli,
    /// Its RESULT line, for the report.
    pub result_line: String,
    /// Its step timings line.
    pub steps_line: Option<String>,
}

/// The floor's sources, read-only, beside the workspace.
pub fn default_manifest(workspace: &Path) -> PathBuf {
    workspace.join("../shared/bench/floor/Cargo.toml")
}

/// Where the bench builds the floor: inside this workspace's target directory, since the
/// floor's own directory is read-only.
pub fn default_target_dir(workspace: &Path) -> PathBuf {
    workspace.join("target/floor")
}

/// Builds the floor in release (quick when it is up to date) and returns the binary's path.
pub async fn build(manifest: &Path, target_dir: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("bench: building the floor ({})", manifest.display());
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .stdin(Stdio::null())
        .status()
        .await
        .context("run cargo to build the floor")?;
    if !status.success() {
        bail!("building the floor failed ({status}); pass --floor-bin or --skip-floor");
    }
    Ok(target_dir.join("release/floor"))
}

/// Runs the floor's pipeline against a fresh database and vhost and parses its result.
pub async fn run(run: &FloorRun) -> anyhow::Result<FloorResult> {
    let db = TestDb::new().await;
    let vhost = TestVhost::new().await;
    db.pool.close().await; // the floor brings its own pool
    let args: Vec<String> = vec![
        "--pg-url".into(),
        db.url.clone(),
        "--amqp-url".into(),
        vhost.amqp_url.clone(),
        "pipeline".into(),
        "--queue-type".into(),
        run.queue_type.clone(),
        "--consumers".into(),
        run.consumers.to_string(),
        "--prefetch".into(),
        run.prefetch.to_string(),
        "--pool".into(),
        run.pool.to_string(),
        "--count".into(),
        run.count.to_string(),
        "--max-secs".into(),
        run.max_secs.to_string(),
    ];
    eprintln!("bench: floor {}", args[4..].join(" "));
    let child = Command::new(&run.bin)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start the floor at {}", run.bin.display()))?;
    let out = tokio::time::timeout(Duration::from_secs(run.max_secs + 60), child.wait_with_output())
        .await
        .context("the floor did not finish in time")??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("the floor failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let result_line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT mode=pipeline"))
        .with_context(|| format!("no RESULT line in the floor's output:\n{stdout}"))?
        .to_owned();
    let payments_per_sec = parse_rate(&result_line)?;
    let steps_line =
        stdout.lines().find(|l| l.trim_start().starts_with("step_ms")).map(|l| l.trim().to_owned());
    Ok(FloorResult { payments_per_sec, result_line, steps_line })
}

/// The `payments/s=N` field of the floor's RESULT line.
fn parse_rate(line: &str) -> anyhow::Result<Milli> {
    let value = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("payments/s="))
        .with_context(|| format!("no payments/s in {line:?}"))?;
    Milli::parse(value).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_rate_from_the_result_line() {
        let line = "RESULT mode=pipeline queue=Quorum count=25000 publishers=32 consumers=2 prefetch=128 \
                    pool=16 inflight=0 payments/s=1047 done=25000 secs=23.9";
        assert_eq!(super::parse_rate(line).unwrap().show(0), "1047");
        assert!(super::parse_rate("RESULT mode=pipeline").is_err());
    }
}
