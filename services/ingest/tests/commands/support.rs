//! The test harness: the real ingest application on a fresh database and vhost, a publisher of
//! commands, and recorders of what arrives on the order shards, the events exchange, a reply
//! queue and the ingest dead-letter queue.

use clap::Parser;
use futures_util::StreamExt;
use ingest::configuration::Cli;
use ingest::startup::Application;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use paygate::broker::envelope::Envelope;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate::runtime::entrypoint::Service;
use paygate_test_support::{TestDb, TestVhost, eventually_some};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WITHIN: Duration = Duration::from_secs(20);
/// The queue the tests name as `reply_to`.
pub const REPLIES: &str = "test.replies";

/// A message seen on one of the watched queues.
#[derive(Clone, Debug)]
pub struct Seen {
    pub queue: String,
    pub routing_key: String,
    pub envelope: Envelope<Value>,
}

pub struct Ingest {
    pub db: TestDb,
    pub topology: Topology,
    pub addr: SocketAddr,
    /// The upstream HTTP API's address (tests/api.rs).
    #[allow(dead_code)]
    pub api_addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    channel: Channel,
    _conn: Connection,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _vhost: TestVhost,
}

impl Ingest {
    /// Starts ingest (providers: mockpay, alipay, wechatpay) and the recorders.
    pub async fn start() -> Self {
        Self::start_after(&[]).await
    }

    /// Starts the recorders, publishes `waiting` (so that they wait in ingest's queue, and
    /// ingest finds them there at once, as under load), then starts ingest.
    pub async fn start_after(waiting: &[Envelope<Value>]) -> Self {
        Self::start_with(waiting, &[]).await
    }

    /// [`Ingest::start_after`], with more command-line settings (`--api-rate-burst`, …).
    pub async fn start_with(waiting: &[Envelope<Value>], settings: &[&str]) -> Self {
        let db = TestDb::new().await;
        let vhost = TestVhost::new().await;
        let topology = Topology::new(TopologyConfig::default()).unwrap();
        let conn = Connection::connect(&vhost.amqp_url, ConnectionProperties::default()).await.unwrap();
        let channel = conn.create_channel().await.unwrap();
        topology.declare(&channel).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let own = |name: &str| {
            let channel = channel.clone();
            let name = name.to_owned();
            async move {
                let opts = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
                channel.queue_declare(name.as_str().into(), opts, FieldTable::default()).await.unwrap();
            }
        };
        own("test.events").await;
        channel
            .queue_bind(
                "test.events".into(),
                topology.events_exchange().as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        own(REPLIES).await;
        let mut watched = topology.shard_queues();
        watched.extend([
            "test.events".to_owned(),
            REPLIES.to_owned(),
            topology.dlq(&topology.ingest_queue()),
        ]);
        for queue in watched {
            record(&conn, &queue, seen.clone()).await;
        }
        for envelope in waiting {
            publish_on(&channel, &topology, envelope).await;
        }

        let mut args = vec![
            "ingest",
            "--database-url",
            &db.url,
            "--amqp-url",
            &vhost.amqp_url,
            "--http-addr",
            "127.0.0.1:0",
            "--shutdown-grace",
            "1",
            "--providers",
            "mockpay,alipay,wechatpay",
            "--api-addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(settings);
        let cli = Cli::try_parse_from(args).expect("config");
        let app = Application::build(cli.config).await.expect("ingest starts");
        let addr = app.local_addr();
        let api_addr = app.api_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Self {
            db,
            topology,
            addr,
            api_addr,
            seen,
            channel,
            _conn: conn,
            shutdown,
            task: Some(task),
            _vhost: vhost,
        }
    }

    /// Publishes a command to the commands exchange, routed by its type.
    pub async fn publish(&self, envelope: &Envelope<Value>) {
        publish_on(&self.channel, &self.topology, envelope).await;
    }

    pub async fn publish_raw(&self, routing_key: &str, body: Vec<u8>, properties: lapin::BasicProperties) {
        self.channel
            .basic_publish(
                self.topology.commands_exchange().as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await
            .unwrap();
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits for a message of `message_type` that `matches`, on the shards, events or replies.
    pub async fn wait_for(&self, what: &str, message_type: &str, matches: impl Fn(&Seen) -> bool) -> Seen {
        eventually_some(what, WITHIN, || {
            let found =
                self.seen().into_iter().find(|s| s.envelope.message_type == message_type && matches(s));
            async move { found }
        })
        .await
    }

    /// The rejection of the command with this message id, as the events exchange got it.
    pub async fn rejection_of(&self, command: &Envelope<Value>) -> Seen {
        let id = command.message_id.to_string();
        self.wait_for("the command.rejected event", "command.rejected", |s| {
            s.queue == "test.events" && s.envelope.payload["command_message_id"] == id.as_str()
        })
        .await
    }

    /// Messages seen on the order shards.
    pub fn orders(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.queue.contains(".orders.shard.")).collect()
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db.pool).await.unwrap()
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn publish_on(channel: &Channel, topology: &Topology, envelope: &Envelope<Value>) {
    let key = envelope.message_type.strip_prefix("command.").unwrap_or("unknown");
    channel
        .basic_publish(
            topology.commands_exchange().as_str().into(),
            key.into(),
            BasicPublishOptions::default(),
            &envelope.to_json().unwrap(),
            envelope.amqp_properties().unwrap(),
        )
        .await
        .unwrap();
}

async fn record(conn: &Connection, queue: &str, into: Arc<Mutex<Vec<Seen>>>) {
    let channel = conn.create_channel().await.unwrap();
    let mut consumer = channel
        .basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let queue = queue.to_owned();
    tokio::spawn(async move {
        let _channel = channel;
        while let Some(Ok(d)) = consumer.next().await {
            let envelope = Envelope::from_json(&d.data).unwrap_or_else(|_| {
                Envelope::new("unparseable", "-", Value::String(String::from_utf8_lossy(&d.data).into()))
            });
            into.lock().unwrap().push(Seen {
                queue: queue.clone(),
                routing_key: d.routing_key.to_string(),
                envelope,
            });
            let _ = d.ack(BasicAckOptions::default()).await;
        }
    });
}
