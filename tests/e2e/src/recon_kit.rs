//! What a reconciliation test against a [`System`] needs: mockpay's adapter and the system's
//! topology (to run the engine in the test), the discrepancies of a batch, a paid order, a refund
//! waited for, and a system in which nothing settles by itself (follow-up queries only after ten
//! minutes, refunds final in mockpay's answer).

use crate::system::{MERCHANT, MOCKPAY_MERCHANT, MOCKPAY_SECRET, PREFIX};
use crate::{System, SystemOptions};
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate::providers::mockpay::{MockpayAdapter, MockpayConfig};
use paygate::store::StoredRow;
use paygate::store::recon;
use paygate::store::refunds::Refund;
use std::time::Duration;
use uuid::Uuid;

/// How long a payment or refund may take to reach the state a test waits for.
pub const WITHIN: Duration = Duration::from_secs(30);

/// paygate's adapter for the system's mockpay.
pub fn adapter(system: &System) -> MockpayAdapter {
    MockpayAdapter::new(MockpayConfig::new(system.mockpay.base_url(), MOCKPAY_MERCHANT, MOCKPAY_SECRET))
        .expect("mockpay's adapter")
}

/// The system's topology (proofs are published to its order shards).
pub fn topology(system: &System) -> Topology {
    let config = TopologyConfig {
        prefix: PREFIX.into(),
        order_shards: system.options.order_shards,
        ..TopologyConfig::default()
    };
    Topology::new(config).expect("the system's topology")
}

/// Every discrepancy of `batch`.
pub async fn found(system: &System, batch: &recon::Batch) -> Vec<recon::Discrepancy> {
    let mut conn = system.db.pool.acquire().await.expect("a connection");
    recon::discrepancies(&mut conn, batch.id).await.expect("the batch's discrepancies")
}

/// A direct payment that succeeded; its id.
pub async fn paid(system: &System, order: &str, amount: &str) -> Uuid {
    system.pay(order, amount, "direct").await;
    system.payment_in(order, "succeeded", WITHIN).await.id
}

/// The refund `refund_no` of the test merchant, once it is in `state`.
pub async fn refund_in(system: &System, refund_no: &str, state: &str) -> Refund {
    paygate_test_support::eventually_some(&format!("{refund_no} to be {state}"), WITHIN, || async {
        let mut conn = system.db.pool.acquire().await.expect("a connection");
        Refund::find_by_number(&mut conn, MERCHANT, refund_no)
            .await
            .expect("read the refund")
            .filter(|r| r.state.as_str() == state)
    })
    .await
}

/// Follow-up queries come only after ten minutes, so an unsettled order stays unsettled unless
/// reconciliation's query settles it; refunds succeed at once unless scripted otherwise.
pub fn patient() -> SystemOptions {
    SystemOptions {
        retry_tiers: "10m".into(),
        mockpay: mockpay::Settings { refund_delay_ms: 0, timeout_hold_ms: 5_000, ..Default::default() },
        ..SystemOptions::default()
    }
}
