//! The faults a run throws at paygate besides mockpay's own: a random service SIGKILLed every
//! few seconds and started again, RabbitMQ restarted once and PostgreSQL once, while the load
//! runs. Everything done is recorded for the report.

use crate::fleet::Fleet;
use crate::servers::Servers;
use crate::upstream::progress;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// What the havoc did.
#[derive(Debug, Default)]
pub struct Done {
    /// (seconds into the run, service label, seconds it was away).
    pub kills: Vec<(u64, String, u64)>,
    /// (seconds into the run, what, seconds it took).
    pub restarts: Vec<(u64, &'static str, u64)>,
    /// Services that stopped by themselves (found not running when picked).
    pub died_alone: Vec<String>,
}

pub struct Havoc {
    pub kill_every: Duration,
    pub min_duration: Duration,
    /// When RabbitMQ and PostgreSQL are restarted, from the start of the havoc.
    pub rabbit_at: Duration,
    pub postgres_at: Duration,
    pub seed: u64,
}

impl Havoc {
    /// Kills and restarts until `load` has finished and `min_duration` has passed.
    pub async fn run(
        &self,
        fleet: &mut Fleet,
        servers: &mut Servers,
        load: &JoinHandle<()>,
    ) -> anyhow::Result<Done> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x4a05);
        let started = Instant::now();
        let mut done = Done::default();
        let (mut rabbit_done, mut postgres_done) = (false, false);
        while !(load.is_finished() && started.elapsed() >= self.min_duration) {
            tokio::time::sleep(self.kill_every).await;
            let at = started.elapsed().as_secs();
            for i in fleet.exited() {
                let label = fleet.label(i).to_owned();
                progress(&format!("{at} s: {label} had stopped by itself; starting it again"));
                let tail = fleet.tail(&label, 5).join(" | ");
                done.died_alone.push(format!("{label} at {at} s: {tail}"));
                fleet.kill_and_restart(i).await?;
            }
            if !rabbit_done && started.elapsed() >= self.rabbit_at {
                rabbit_done = true;
                progress(&format!("{at} s: restarting RabbitMQ"));
                let t = Instant::now();
                servers.restart_rabbit();
                done.restarts.push((at, "rabbitmq", t.elapsed().as_secs()));
                continue;
            }
            if !postgres_done && started.elapsed() >= self.postgres_at {
                postgres_done = true;
                progress(&format!("{at} s: restarting PostgreSQL"));
                let t = Instant::now();
                servers.restart_postgres();
                done.restarts.push((at, "postgresql", t.elapsed().as_secs()));
                continue;
            }
            let victim = rng.random_range(0..fleet.len());
            let label = fleet.label(victim).to_owned();
            progress(&format!("{at} s: SIGKILL {label}"));
            let away = fleet.kill_and_restart(victim).await?;
            done.kills.push((at, label, away.as_secs()));
        }
        anyhow::ensure!(rabbit_done && postgres_done, "the run ended before both servers were restarted");
        Ok(done)
    }
}
