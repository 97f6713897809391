//! The services of a run as real processes: one ingest, two provider-dispatchers, one
//! notify-handler and two compensation-schedulers, each on a fixed HTTP port (a restarted
//! notify-handler must answer where mockpay sends notifications), killed with SIGKILL and started
//! again by the havoc.

use paygate_test_support::ServiceProcess;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One service instance: how to start it, and its process while it runs.
struct Slot {
    label: String,
    bin: PathBuf,
    env: Vec<(String, String)>,
    http: String,
    process: Option<ServiceProcess>,
}

pub struct Fleet {
    slots: Vec<Slot>,
}

/// One instance to run: its binary's name, a label, and its environment (without `HTTP_ADDR`).
pub struct Spec {
    pub bin: &'static str,
    pub label: String,
    pub env: Vec<(String, String)>,
    pub port: u16,
}

/// Where the service binaries are: `dir`, or beside this program (`target/<profile>/`).
pub fn bin_dir(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = dir {
        return Ok(dir.to_owned());
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // A test executable lives in target/<profile>/deps.
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

impl Fleet {
    /// Starts every instance and waits (bounded) until each answers `/healthz`.
    pub async fn start(bin_dir: &Path, specs: Vec<Spec>) -> anyhow::Result<Self> {
        let mut slots = Vec::new();
        for spec in specs {
            let bin = bin_dir.join(spec.bin);
            anyhow::ensure!(bin.exists(), "{} is not built (cargo build --workspace --bins)", bin.display());
            let mut env = spec.env;
            env.push(("HTTP_ADDR".into(), format!("127.0.0.1:{}", spec.port)));
            slots.push(Slot {
                label: spec.label,
                bin,
                env,
                http: format!("http://127.0.0.1:{}", spec.port),
                process: None,
            });
        }
        let mut fleet = Self { slots };
        for i in 0..fleet.slots.len() {
            fleet.spawn(i);
        }
        for i in 0..fleet.slots.len() {
            fleet.wait_healthy(i, Duration::from_secs(120)).await?;
        }
        Ok(fleet)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn label(&self, i: usize) -> &str {
        &self.slots[i].label
    }

    /// The base URL of instance `label`'s HTTP server.
    pub fn http(&self, label: &str) -> Option<&str> {
        self.slots.iter().find(|s| s.label == label).map(|s| s.http.as_str())
    }

    fn spawn(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        let env: Vec<(&str, &str)> = slot.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        slot.process = Some(ServiceProcess::spawn(&slot.bin.to_string_lossy(), &env));
    }

    async fn wait_healthy(&mut self, i: usize, within: Duration) -> anyhow::Result<()> {
        let url = format!("{}/healthz", self.slots[i].http);
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + within;
        loop {
            if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            let slot = &mut self.slots[i];
            if let Some(p) = slot.process.as_mut()
                && !p.is_running()
            {
                let tail: Vec<String> = p.output().into_iter().rev().take(20).collect();
                anyhow::bail!("{} exited while starting:\n{}", slot.label, tail.join("\n"));
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not answer {url} within {within:?}",
                slot.label
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills instance `i` with SIGKILL, starts it again and waits until it answers; returns how
    /// long it was away.
    pub async fn kill_and_restart(&mut self, i: usize) -> anyhow::Result<Duration> {
        let started = Instant::now();
        if let Some(mut p) = self.slots[i].process.take()
            && p.is_running()
        {
            p.signal("KILL").await;
            p.wait(Duration::from_secs(30)).await;
        }
        self.spawn(i);
        self.wait_healthy(i, Duration::from_secs(120)).await?;
        Ok(started.elapsed())
    }

    /// Instances that are not running (a service that died by itself is a finding).
    pub fn exited(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.process.as_mut().is_some_and(|p| !p.is_running()) {
                out.push(i);
            }
        }
        out
    }

    /// The last `n` lines instance `label` printed.
    pub fn tail(&self, label: &str, n: usize) -> Vec<String> {
        let Some(p) = self.slots.iter().find(|s| s.label == label).and_then(|s| s.process.as_ref()) else {
            return Vec::new();
        };
        let out = p.output();
        out[out.len().saturating_sub(n)..].to_vec()
    }

    /// Stops every instance with SIGTERM (bounded); returns those that did not exit cleanly.
    pub async fn stop(mut self) -> Vec<String> {
        let mut unclean = Vec::new();
        for slot in &mut self.slots {
            if let Some(mut p) = slot.process.take()
                && p.is_running()
            {
                p.signal("TERM").await;
                if p.wait(Duration::from_secs(60)).await != Some(0) {
                    unclean.push(slot.label.clone());
                }
            }
        }
        unclean
    }
}
