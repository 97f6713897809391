//! The paygate system the bench measures: a fresh database (migrated) and a fresh vhost, the
//! pass's provider simulator in-process (with the run's provider latency, if any; see
//! [`super::providers`]), and ingest and provider-dispatcher as real release-built processes (and
//! notify-handler, for a provider whose payments end through a notification), configured through
//! their environment exactly as an operator would. Everything is removed again when the
//! [`BenchSystem`] is stopped (or dropped).

use super::http_upstream::{self, ApiTarget, Via};
use super::providers::{self, BenchProvider, Simulator};
use anyhow::{Context, bail};
use mockpay::MockPayHandle;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate_test_support::{ServiceProcess, TestDb, TestVhost};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The prefix of every exchange and queue in the bench's vhost.
pub const PREFIX: &str = "paygate";

/// How the services are run.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Where `ingest`, `provider-dispatcher` and `notify-handler` are (target/release).
    pub bin_dir: PathBuf,
    /// The provider every awaited payment goes to.
    pub provider: BenchProvider,
    pub order_shards: u16,
    pub shard_concurrency: u16,
    pub database_max_connections: u32,
    pub dispatchers: usize,
    /// The simulators' added latency per API call (none when `None`).
    pub provider_latency: Option<simkit::Latency>,
    /// Extra environment for every service (`KEY=VALUE`), e.g. tuning knobs.
    pub extra_env: Vec<(String, String)>,
    /// `RUST_LOG` of the services.
    pub log: String,
    /// A second provider, [`SECOND_PROVIDER`] (another mockpay account, on its own mockpay).
    pub second_provider: Option<SecondProvider>,
    /// How upstream sends commands; over HTTP, ingest's API listens on a port of its own and
    /// the bench's merchant gets a key ([`BenchSystem::api`]).
    pub via: Via,
}

/// The second provider's name (a mockpay of its own, configured with `KIND=mockpay`).
pub const SECOND_PROVIDER: &str = "mockpay_b";

/// How the second provider behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondProvider {
    /// Answers at once.
    Healthy,
    /// Every call times out: mockpay holds the request for a minute and paygate gives up after
    /// its timeout (10 s, the adapter's default), as a provider in trouble does.
    TimingOut,
}

/// The running system.
pub struct BenchSystem {
    pub db: TestDb,
    pub vhost: TestVhost,
    /// The provider's simulator.
    pub simulator: Simulator,
    /// The second provider's mockpay, when the run has one.
    pub second: Option<MockPayHandle>,
    pub topology: Topology,
    processes: Vec<ServiceProcess>,
    /// Each dispatcher's HTTP base (its /metrics).
    pub dispatcher_http: Vec<String>,
    /// notify-handler's HTTP base, when the pass runs it.
    pub notify_http: Option<String>,
    /// ingest's upstream API and the bench merchant's key, with `--via http`.
    pub api: Option<ApiTarget>,
}

impl BenchSystem {
    pub async fn start(settings: &ServiceSettings) -> anyhow::Result<Self> {
        let mut names = vec!["ingest", "provider-dispatcher"];
        if settings.provider.needs_notify_handler() {
            names.push("notify-handler");
        }
        let bins: Vec<PathBuf> = names.iter().map(|b| settings.bin_dir.join(b)).collect();
        for bin in &bins {
            if !bin.exists() {
                bail!(
                    "{} is not built: run `cargo build --release --workspace --bins` first (or pass --bin-dir)",
                    bin.display()
                );
            }
        }
        let db = TestDb::new().await;
        paygate::db::migrate(&db.pool).await.context("migrate the bench database")?;
        let vhost = TestVhost::new().await;
        let latency = settings.provider_latency.as_ref();
        let simulator = Simulator::start(settings.provider, latency).await?;
        let topology = Topology::new(TopologyConfig {
            prefix: PREFIX.into(),
            order_shards: settings.order_shards,
            ..TopologyConfig::default()
        })?;
        declare(&vhost.amqp_url, &topology).await?;
        let second = match settings.second_provider {
            None => None,
            Some(behaviour) => {
                Some(providers::start_second_mockpay(latency, behaviour == SecondProvider::TimingOut).await?)
            }
        };
        let mut system = Self {
            db,
            vhost,
            simulator,
            second,
            topology,
            processes: Vec::new(),
            dispatcher_http: Vec::new(),
            notify_http: None,
            api: None,
        };
        let mut common = system.common_env(settings);
        if settings.via == Via::Http {
            let port = free_port()?;
            let base = format!("http://127.0.0.1:{port}");
            system.api = Some(http_upstream::make_key(&system.db.pool, crate::system::MERCHANT, base).await?);
            common.retain(|(k, _)| k != "API_ADDR");
            common.push(("API_ADDR".to_owned(), format!("127.0.0.1:{port}")));
            // The bench is one merchant key sending as fast as it can: the per-key limit is
            // lifted (a real key's default is 20/s), so that the service is measured, not it.
            for (k, v) in [("API_RATE_PER_SECOND", "1000000"), ("API_RATE_BURST", "1000000")] {
                if !common.iter().any(|(key, _)| key == k) {
                    common.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        common.extend(system.provider_env(settings.provider));
        system.processes.push(spawn(&bins[0], &common).await?.0);
        let mut dispatcher_env = common.clone();
        dispatcher_env.push(("SHARD_CONCURRENCY".to_owned(), settings.shard_concurrency.to_string()));
        if let Some(bin) = bins.get(2) {
            // Every simulated customer's browser comes back to the return route (LINE Pay's
            // confirmUrl) from this one address: lift the per-address limit, which is for the
            // internet's clients, not the bench's.
            let mut notify_env = common.clone();
            notify_env.push(("RETURN_RATE_PER_MINUTE".to_owned(), "100000".to_owned()));
            let (process, http) = spawn(bin, &notify_env).await?;
            system.processes.push(process);
            dispatcher_env.push(("NOTIFY_BASE_URL".to_owned(), http.clone()));
            system.simulator.notify_at(&http).await?;
            system.notify_http = Some(http);
        }
        for _ in 0..settings.dispatchers {
            let (process, http) = spawn(&bins[1], &dispatcher_env).await?;
            system.processes.push(process);
            system.dispatcher_http.push(http);
        }
        Ok(system)
    }

    /// `PROVIDERS` and each provider's settings, as every service reads them.
    fn provider_env(&self, provider: BenchProvider) -> Vec<(String, String)> {
        let mut names = vec![provider.name()];
        let mut env = self.simulator.provider_env();
        if let Some(second) = &self.second {
            names.push(SECOND_PROVIDER);
            let upper = SECOND_PROVIDER.to_ascii_uppercase();
            env.extend(providers::second_mockpay_env(&upper, second));
            env.push((format!("PAYGATE_PROVIDER_{upper}_KIND"), "mockpay".to_owned()));
        }
        env.push(("PROVIDERS".to_owned(), names.join(",")));
        env
    }

    fn common_env(&self, settings: &ServiceSettings) -> Vec<(String, String)> {
        let mut env = vec![
            ("DATABASE_URL".to_owned(), self.db.url.clone()),
            ("DATABASE_MAX_CONNECTIONS".to_owned(), settings.database_max_connections.to_string()),
            ("AMQP_URL".to_owned(), self.vhost.amqp_url.clone()),
            ("AMQP_PREFIX".to_owned(), PREFIX.to_owned()),
            ("ORDER_SHARDS".to_owned(), settings.order_shards.to_string()),
            ("HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            // ingest's upstream HTTP API: a free port, not its fixed default.
            ("API_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("SHUTDOWN_GRACE_SECS".to_owned(), "5".to_owned()),
            ("RUST_LOG".to_owned(), settings.log.clone()),
        ];
        env.extend(settings.extra_env.iter().cloned());
        env
    }

    /// The service processes' ids, by name (for CPU accounting).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.processes.iter().map(|p| (p.name.clone(), p.pid())).collect()
    }

    /// Stops the services gracefully (SIGTERM), then removes the simulators, the vhost and the
    /// database.
    pub async fn stop(mut self) {
        for p in &mut self.processes {
            if p.is_running() {
                p.signal("TERM").await;
            }
        }
        for p in &mut self.processes {
            let _ = tokio::time::timeout(Duration::from_secs(30), p.wait(Duration::from_secs(30))).await;
        }
        self.simulator.shutdown().await;
        if let Some(second) = self.second.take() {
            let _ = second.shutdown().await;
        }
        // The database and the vhost are dropped (removed) with `self.db` and `self.vhost`.
    }
}

/// A TCP port free on 127.0.0.1 now (bound, then released for the service to take).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Declares the topology, as every service would, so the upstream can bind before they start.
async fn declare(amqp_url: &str, topology: &Topology) -> anyhow::Result<()> {
    let conn = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    topology.declare(&channel).await?;
    let _ = conn.close(200, "declared".into()).await;
    Ok(())
}

/// Starts a service and waits until it reports ready (`/readyz` answers 200); with its HTTP base.
async fn spawn(bin: &Path, env: &[(String, String)]) -> anyhow::Result<(ServiceProcess, String)> {
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let process = ServiceProcess::spawn(&bin.to_string_lossy(), &vars);
    let base = process.http_base(Duration::from_secs(60)).await;
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok((process, base));
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not become ready within 60 s; output:\n{}",
                process.name,
                process.output().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
