//! Helpers for the broker tests: the management API, raw AMQP consumers, a recording handler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use paygate::broker::consumer::{Batched, Delivered, Handler, HandlerError, Outcome};
use paygate::broker::{RetryTier, Topology, TopologyConfig};
use sqlx::{Postgres, Transaction};
use tokio::sync::Notify;

pub const WITHIN: Duration = Duration::from_secs(20);

/// Log output for the test that calls it, filtered by `RUST_LOG` (nothing by default).
pub fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// The management API base URL and credentials (same defaults and variable as test-support).
fn management() -> (String, String, String) {
    let url = std::env::var("PAYGATE_TEST_RABBITMQ_MANAGEMENT_URL")
        .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".to_owned());
    let (scheme, rest) = url.trim_end_matches('/').split_once("://").expect("a URL");
    let (cred, host) = rest.split_once('@').unwrap_or(("guest:guest", rest));
    let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
    (format!("{scheme}://{host}"), user.to_owned(), pass.to_owned())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap()
}

/// `/api/{segments...}`, each segment percent-encoded.
fn api_url(segments: &[&str]) -> (reqwest::Url, String, String) {
    let (base, user, pass) = management();
    let mut url = reqwest::Url::parse(&base).unwrap();
    url.path_segments_mut().unwrap().push("api").extend(segments);
    (url, user, pass)
}

/// GET a management API resource; `None` on 404.
pub async fn mgmt_get(segments: &[&str]) -> Option<serde_json::Value> {
    let (url, user, pass) = api_url(segments);
    let resp = http().get(url.clone()).basic_auth(user, Some(pass)).send().await.unwrap();
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    Some(resp.json().await.unwrap())
}

pub async fn mgmt_post(segments: &[&str], body: &serde_json::Value) -> reqwest::StatusCode {
    let (url, user, pass) = api_url(segments);
    let resp = http().post(url).basic_auth(user, Some(pass)).json(body).send().await.unwrap();
    let status = resp.status();
    if !status.is_success() {
        eprintln!("POST failed: {status}: {}", resp.text().await.unwrap_or_default());
    }
    status
}

pub async fn mgmt_delete(segments: &[&str]) -> reqwest::StatusCode {
    let (url, user, pass) = api_url(segments);
    http().delete(url).basic_auth(user, Some(pass)).send().await.unwrap().status()
}

pub async fn connect(url: &str) -> Connection {
    Connection::connect(url, ConnectionProperties::default()).await.expect("test connection")
}

/// A topology with short retry tiers, for tests.
pub fn test_topology(tiers: &[(&str, u64)], delivery_limit: u32) -> Arc<Topology> {
    let config = TopologyConfig {
        retry_tiers: tiers.iter().map(|(n, ms)| RetryTier::new(*n, Duration::from_millis(*ms))).collect(),
        delivery_limit,
        ..TopologyConfig::default()
    };
    Arc::new(Topology::new(config).unwrap())
}

/// Connects to the vhost and declares `topology`.
pub async fn declared(url: &str, topology: &Topology) -> Connection {
    let conn = connect(url).await;
    let ch = conn.create_channel().await.unwrap();
    topology.declare(&ch).await.unwrap();
    conn
}

/// Ready messages in a queue (passive declare), immediate unlike the management statistics.
pub async fn ready_count(conn: &Connection, queue: &str) -> u32 {
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = ch.close(200, "ok".into()).await;
    q.message_count()
}

/// One message got from a queue and acknowledged (queues without single active consumer only).
pub async fn get_one(ch: &Channel, queue: &str) -> Option<(BasicProperties, Vec<u8>)> {
    let m = ch.basic_get(queue.into(), BasicGetOptions::default()).await.unwrap()?;
    m.delivery.ack(BasicAckOptions::default()).await.unwrap();
    Some((m.delivery.properties.clone(), m.delivery.data.clone()))
}

/// What a raw consumer saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub queue: String,
    pub properties: BasicProperties,
    pub body: Vec<u8>,
}

/// Consumes `queue` (auto-ack off, acked on receipt) into a shared list. Keep the channel alive.
pub async fn collect(conn: &Connection, queue: &str, into: Arc<Mutex<Vec<Seen>>>) -> Channel {
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(100, BasicQosOptions::default()).await.unwrap();
    let mut consumer = ch
        .basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let queue = queue.to_owned();
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            into.lock().unwrap().push(Seen {
                queue: queue.clone(),
                properties: d.properties.clone(),
                body: d.data.clone(),
            });
            let _ = d.ack(BasicAckOptions::default()).await;
        }
    });
    ch
}

pub fn header<'a>(p: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    p.headers().as_ref()?.inner().get(name)
}

/// The test database's effect table: one row per application of a message, deliberately without
/// a unique constraint, so a double application shows.
pub async fn create_effects(pool: &sqlx::PgPool) {
    paygate::db::migrate(pool).await.unwrap();
    sqlx::query(
        "CREATE TABLE effects (message_id uuid NOT NULL, order_key text NOT NULL, attempt int NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
}

pub async fn count(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// What the recording handler does after writing its effect row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Permanent,
    /// Transient on attempt 0, done afterwards.
    TransientFirst,
    AlwaysTransient,
    /// Signals `entered`, then waits for `release`.
    Block,
    /// Done, after working longer on earlier messages (payload `n`: 20 - n % 20 ms), so that
    /// with concurrency later messages would overtake earlier ones unless kept in order.
    SlowerFirst,
    Panic,
    /// Done, except for the payload `"poison"`: a permanent error.
    Poison,
    /// Held (not tried) on the first three calls, done on the fourth.
    HeldThrice,
}

/// Writes an effect row, then behaves as its mode says.
#[derive(Clone)]
pub struct Recorder {
    pub mode: Mode,
    pub entered: Arc<Notify>,
    pub release: Arc<Notify>,
    pub calls: Arc<AtomicU32>,
    pub seen_attempts: Arc<Mutex<HashMap<uuid::Uuid, Vec<u32>>>>,
    /// (order key, payload) in the order the handler started them.
    pub seen_payloads: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    /// Whether `handle_batch` applies batches (else it declines them, as the default does).
    pub batching: bool,
    /// The order keys of each batch `handle_batch` was given.
    pub batches: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Recorder {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            entered: Arc::new(Notify::new()),
            release: Arc::new(Notify::new()),
            calls: Arc::new(AtomicU32::new(0)),
            seen_attempts: Arc::default(),
            seen_payloads: Arc::default(),
            batching: false,
            batches: Arc::default(),
        }
    }

    /// A recorder whose `handle_batch` applies batches, message by message.
    pub fn batching(mode: Mode) -> Self {
        Self { batching: true, ..Self::new(mode) }
    }
}

impl Handler for Recorder {
    type Prepared = ();

    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        _: &(),
    ) -> Result<Outcome, HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let env = &msg.envelope;
        self.seen_attempts.lock().unwrap().entry(env.message_id).or_default().push(env.attempt);
        self.seen_payloads.lock().unwrap().push((env.order_key.clone(), env.payload.clone()));
        sqlx::query("INSERT INTO effects (message_id, order_key, attempt) VALUES ($1, $2, $3)")
            .bind(env.message_id)
            .bind(&env.order_key)
            .bind(env.attempt as i32)
            .execute(&mut **tx)
            .await?;
        match self.mode {
            Mode::Ok => Ok(Outcome::Done),
            Mode::Permanent => Err(HandlerError::permanent(anyhow::anyhow!("the amount is negative"))),
            Mode::TransientFirst if env.attempt == 0 => {
                Err(HandlerError::transient(anyhow::anyhow!("provider timed out")))
            }
            Mode::TransientFirst => Ok(Outcome::Done),
            Mode::AlwaysTransient => Err(HandlerError::transient(anyhow::anyhow!("provider timed out"))),
            Mode::SlowerFirst => {
                let n = env.payload.as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(20 - n % 20)).await;
                Ok(Outcome::Done)
            }
            Mode::Panic => panic!("boom"),
            Mode::Poison if env.payload == "poison" => {
                Err(HandlerError::permanent(anyhow::anyhow!("poisoned")))
            }
            Mode::Poison => Ok(Outcome::Done),
            Mode::HeldThrice if self.calls.load(Ordering::SeqCst) <= 3 => Ok(Outcome::Hold {
                reason: "the provider's circuit is open".into(),
                at_least: Duration::ZERO,
                recorded: false,
            }),
            Mode::HeldThrice => Ok(Outcome::Done),
            Mode::Block => {
                self.entered.notify_one();
                self.release.notified().await;
                Ok(Outcome::Done)
            }
        }
    }

    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[(&Delivered, &())],
    ) -> Result<Batched, HandlerError> {
        if !self.batching {
            return Ok(Batched::OneByOne { reason: "not batching".into() });
        }
        self.batches.lock().unwrap().push(msgs.iter().map(|(m, _)| m.envelope.order_key.clone()).collect());
        for &(msg, _) in msgs {
            if self.handle(tx, msg, &()).await? != Outcome::Done {
                return Ok(Batched::OneByOne { reason: "not done".into() });
            }
        }
        Ok(Batched::AllDone)
    }
}

/// A [`Recorder`] (batching, [`Mode::Poison`]) with a preparation stage, as the dispatcher's
/// provider call: each preparation of a message is counted, and `handle` and `handle_batch`
/// record which preparation they were given. A batch with the poison in it is declined: its
/// messages go one by one.
#[derive(Clone, Default)]
pub struct Preparer {
    /// Per message id, how many times it was prepared.
    pub prepared: Arc<Mutex<HashMap<uuid::Uuid, u32>>>,
    /// Per order key, the preparations (their numbers) `handle` or `handle_batch` applied.
    pub applied: Arc<Mutex<HashMap<String, Vec<u32>>>>,
    pub recorder: Option<Recorder>,
}

impl Preparer {
    pub fn new() -> Self {
        Self { recorder: Some(Recorder::batching(Mode::Poison)), ..Self::default() }
    }

    fn recorder(&self) -> &Recorder {
        self.recorder.as_ref().expect("Preparer::new")
    }

    fn applied(&self, msg: &Delivered, prepared: u32) {
        self.applied.lock().unwrap().entry(msg.envelope.order_key.clone()).or_default().push(prepared);
    }
}

impl Handler for Preparer {
    type Prepared = u32;
    const PREPARES: bool = true;

    async fn prepare(
        &self,
        _: &sqlx::PgPool,
        msgs: &[&Delivered],
    ) -> Result<Vec<paygate::broker::consumer::Preparing<u32>>, HandlerError> {
        let mut prepared = self.prepared.lock().unwrap();
        Ok(msgs
            .iter()
            .map(|m| -> paygate::broker::consumer::Preparing<u32> {
                let n = prepared.entry(m.envelope.message_id).or_default();
                *n += 1;
                Box::pin(std::future::ready(Ok(*n)))
            })
            .collect())
    }

    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        prepared: &u32,
    ) -> Result<Outcome, HandlerError> {
        self.applied(msg, *prepared);
        self.recorder().handle(tx, msg, &()).await
    }

    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[(&Delivered, &u32)],
    ) -> Result<Batched, HandlerError> {
        let recorder = self.recorder();
        recorder
            .batches
            .lock()
            .unwrap()
            .push(msgs.iter().map(|(m, _)| m.envelope.order_key.clone()).collect());
        for &(msg, prepared) in msgs {
            self.applied(msg, *prepared);
        }
        if msgs.iter().any(|(m, _)| m.envelope.payload == "poison") {
            return Ok(Batched::OneByOne { reason: "the poison is in it".into() });
        }
        for &(msg, _) in msgs {
            recorder.handle(tx, msg, &()).await?;
        }
        Ok(Batched::AllDone)
    }
}

/// The server-side name of the connection called `connection_name` in `vhost`, other than
/// `except` (the management API lists connections with a few seconds' delay).
pub async fn server_side_connection(
    vhost: &str,
    connection_name: &str,
    except: Option<&str>,
) -> Option<String> {
    let conns = mgmt_get(&["vhosts", vhost, "connections"]).await?;
    conns.as_array()?.iter().find_map(|c| {
        let name = c["name"].as_str()?;
        (c["client_properties"]["connection_name"] == connection_name && Some(name) != except)
            .then(|| name.to_owned())
    })
}

/// Closes the connection called `connection_name` server-side, as an operator or a broker
/// restart would, and waits until its owner has connected again.
pub async fn force_reconnect(vhost: &str, connection_name: &str) {
    let first = paygate_test_support::eventually_some("the connection in the management API", WITHIN, || {
        server_side_connection(vhost, connection_name, None)
    })
    .await;
    assert!(mgmt_delete(&["connections", &first]).await.is_success());
    paygate_test_support::eventually_some("a new connection", WITHIN, || {
        server_side_connection(vhost, connection_name, Some(&first))
    })
    .await;
}
