//! A private RabbitMQ cluster for one test: Debian's `rabbitmq-server` started as several nodes
//! on free ports, under a temporary directory (its own Erlang cookie, data and logs), clustered by
//! classic peer discovery. A test may stop a node; every node is stopped when it is dropped. The
//! machine's shared RabbitMQ is never touched.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::eventually;

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/// One node: its name and ports.
pub struct ClusterNode {
    pub name: String,
    pub amqp_port: u16,
    pub management_port: u16,
    child: Option<Child>,
}

impl ClusterNode {
    /// `amqp://guest:guest@127.0.0.1:PORT` (no vhost).
    pub fn amqp_base(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}", self.amqp_port)
    }

    pub fn management_url(&self) -> String {
        format!("http://guest:guest@127.0.0.1:{}", self.management_port)
    }
}

pub struct RabbitCluster {
    pub nodes: Vec<ClusterNode>,
    dir: PathBuf,
}

impl RabbitCluster {
    /// Whether this machine can run private nodes (Debian's rabbitmq-server is installed).
    pub fn available() -> bool {
        Path::new(SERVER).exists() && Path::new(CTL).exists()
    }

    /// Starts `size` nodes and waits (bounded) until every one runs in one cluster.
    pub async fn start(size: usize) -> Self {
        assert!(Self::available(), "{SERVER} is missing: install Debian's rabbitmq-server");
        let dir = std::env::temp_dir().join(format!("paygate-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let mut nodes: Vec<ClusterNode> = (0..size)
            .map(|i| ClusterNode {
                name: format!("t{tag}n{i}@localhost"),
                amqp_port: free_port(),
                management_port: free_port(),
                child: None,
            })
            .collect();
        let peers: String = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("cluster_formation.classic_config.nodes.{} = {}\n", i + 1, n.name))
            .collect();
        for (i, node) in nodes.iter_mut().enumerate() {
            let home = dir.join(format!("n{i}"));
            std::fs::create_dir_all(&home).unwrap();
            let conf = format!(
                "listeners.tcp.default = 127.0.0.1:{amqp}\n\
                 management.tcp.port = {mgmt}\nmanagement.tcp.ip = 127.0.0.1\n\
                 prometheus.tcp.port = {prom}\nprometheus.tcp.ip = 127.0.0.1\n\
                 loopback_users.guest = false\n\
                 cluster_formation.peer_discovery_backend = classic_config\n{peers}",
                amqp = node.amqp_port,
                mgmt = node.management_port,
                prom = free_port(),
            );
            std::fs::write(home.join("rabbitmq.conf"), conf).unwrap();
            std::fs::write(
                home.join("enabled_plugins"),
                "[rabbitmq_consistent_hash_exchange,rabbitmq_management,rabbitmq_prometheus].\n",
            )
            .unwrap();
        }
        let mut cluster = Self { nodes, dir };
        for i in 0..size {
            cluster.spawn_node(i);
        }
        let first = cluster.nodes[0].name.clone();
        let want = size;
        eventually("the private RabbitMQ nodes running as one cluster", Duration::from_secs(120), || {
            let running = cluster.running_nodes(&first);
            async move { running == want }
        })
        .await;
        for node in &cluster.nodes {
            management_answers(node.management_port).await;
        }
        cluster
    }

    /// Starts node `i`'s server on its configuration and data (written by [`RabbitCluster::start`]).
    fn spawn_node(&mut self, i: usize) {
        let home = self.dir.join(format!("n{i}"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(home.join("out.log")).unwrap();
        let child = Command::new(SERVER)
            .envs(node_env(&self.dir, &home, &self.nodes[i].name, free_port()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rabbitmq-server");
        self.nodes[i].child = Some(child);
    }

    /// Restarts node `i` as a broker restart would (stopped, then started on the same name, ports
    /// and data: durable queues and their messages survive), and waits (bounded) until it runs
    /// in the cluster and its management API answers.
    pub async fn restart_node(&mut self, i: usize) {
        self.stop_node(i);
        self.spawn_node(i);
        let name = self.nodes[i].name.clone();
        let want = self.nodes.iter().filter(|n| n.child.is_some()).count();
        eventually("the restarted RabbitMQ node running", Duration::from_secs(120), || {
            let running = self.running_nodes(&name);
            async move { running == want }
        })
        .await;
        management_answers(self.nodes[i].management_port).await;
    }

    /// How many nodes `node` sees running in its cluster (0 when it does not answer).
    pub fn running_nodes(&self, node: &str) -> usize {
        let out = self.ctl(node, &["cluster_status", "--formatter", "json"]);
        let Ok(out) = out else { return 0 };
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        status["running_nodes"].as_array().map_or(0, Vec::len)
    }

    fn ctl(&self, node: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
        let home = self.dir.join("n0");
        Command::new(CTL).envs(node_env(&self.dir, &home, node, 0)).arg("-n").arg(node).args(args).output()
    }

    /// Stops node `i` (its Erlang VM halts), as a machine loss would, and waits for its process.
    pub fn stop_node(&mut self, i: usize) {
        let name = self.nodes[i].name.clone();
        let _ = self.ctl(&name, &["stop"]);
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `rabbitmq-queues quorum_status` for a queue, as seen by node `on`: the members' names.
    pub fn quorum_members(&self, on: usize, vhost: &str, queue: &str) -> Vec<String> {
        let home = self.dir.join("n0");
        let out = Command::new("/usr/lib/rabbitmq/bin/rabbitmq-queues")
            .envs(node_env(&self.dir, &home, &self.nodes[on].name, 0))
            .args([
                "-n",
                &self.nodes[on].name,
                "quorum_status",
                "--vhost",
                vhost,
                queue,
                "--formatter",
                "json",
            ])
            .output();
        let Ok(out) = out else { return Vec::new() };
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        rows.as_array()
            .map(|rows| rows.iter().filter_map(|r| r["Node Name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// Waits (bounded) until the management API on `port` answers.
async fn management_answers(port: u16) {
    let url = format!("http://127.0.0.1:{port}/api/overview");
    eventually("a private node's management API", Duration::from_secs(60), || {
        let url = url.clone();
        async move {
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            http.get(&url)
                .basic_auth("guest", Some("guest"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
}

/// The environment of one node (or of a CLI talking to it): one HOME for the whole cluster, so
/// that every node and the CLI share one Erlang cookie.
fn node_env(dir: &Path, home: &Path, name: &str, dist_port: u16) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOME".into(), dir.display().to_string()),
        ("RABBITMQ_NODENAME".into(), name.to_owned()),
        ("RABBITMQ_CONFIG_FILE".into(), home.join("rabbitmq.conf").display().to_string()),
        ("RABBITMQ_ENABLED_PLUGINS_FILE".into(), home.join("enabled_plugins").display().to_string()),
        ("RABBITMQ_MNESIA_BASE".into(), home.join("mnesia").display().to_string()),
        ("RABBITMQ_LOG_BASE".into(), home.join("log").display().to_string()),
        ("RABBITMQ_PID_FILE".into(), home.join("pid").display().to_string()),
        ("RABBITMQ_LOGS".into(), "-".into()),
    ];
    if dist_port != 0 {
        env.push(("RABBITMQ_DIST_PORT".into(), dist_port.to_string()));
    }
    env
}

impl Drop for RabbitCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_some() {
                self.stop_node(i);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
