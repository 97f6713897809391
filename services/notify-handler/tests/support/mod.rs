//! What the webhook tests share: reading what notify-handler forwarded to the order shards.

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use paygate::broker::envelope::Envelope;
use serde_json::Value;
use std::time::Duration;

/// The next `count` messages on shards `0..shards` of the vhost at `amqp_url`, each within
/// `within` of the one before.
pub async fn shard_messages(
    amqp_url: &str,
    shards: u32,
    count: usize,
    within: Duration,
) -> Vec<Envelope<Value>> {
    let conn = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for shard in 0..shards {
        let mut consumer = channel
            .basic_consume(
                format!("paygate.orders.shard.{shard}").as_str().into(),
                format!("test-{shard}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(d)) = consumer.next().await {
                let _ = tx.send(Envelope::<Value>::from_json(&d.data).unwrap());
                d.ack(BasicAckOptions::default()).await.unwrap();
            }
        });
    }
    let mut got = Vec::new();
    while got.len() < count {
        let next = tokio::time::timeout(within, rx.recv()).await.expect("a message on a shard");
        got.push(next.unwrap());
    }
    got
}
