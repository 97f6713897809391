//! Bulkheads: a provider in trouble holds its own work, never the others' (docs/architecture.md,
//! "Bulkheads"). A second provider (`mockpay_b`, a mockpay of its own) times out on every call;
//! while its calls are out, a payment through mockpay completes as if it were alone.

use paygate_e2e::system::{SECOND_PROVIDER, pay_command};
use paygate_e2e::{System, SystemOptions};
use std::time::{Duration, Instant};

/// How long each of the second provider's calls takes: mockpay holds it this long, and paygate
/// gives up after the same time.
const STUCK: Duration = Duration::from_secs(10);

/// The calls in flight to `provider`, from the dispatcher's metrics.
async fn in_flight(system: &System, provider: &str) -> u64 {
    system.dispatcher_metric(0, &format!("paygate_provider_calls_in_flight{{provider=\"{provider}\"}}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_timing_out_on_every_call_does_not_hold_up_another_providers_payments() {
    // One shard with two slots, one message per job: when a job held its slot through its
    // provider call, the second provider's first two calls took both for ten seconds.
    let timeout_ms = u64::try_from(STUCK.as_millis()).unwrap();
    let options = SystemOptions {
        order_shards: 1,
        provider_timeout_ms: timeout_ms,
        mockpay: mockpay::Settings { timeout_hold_ms: timeout_ms, ..SystemOptions::default().mockpay },
        dispatcher_config: vec![("SHARD_CONCURRENCY".into(), "2".into()), ("SHARD_BATCH".into(), "1".into())],
        second_provider: Some(mockpay::FaultSettings { timeout_ppm: 1_000_000, ..Default::default() }),
        ..SystemOptions::default()
    };
    let system = System::with(options).await;
    for n in 0..4 {
        let order = format!("b-{n}");
        let mut payload = pay_command(&order, "5.00", "direct");
        payload["provider"] = serde_json::json!(SECOND_PROVIDER);
        system.upstream.command("command.pay", &order, payload).await;
    }
    paygate_test_support::eventually("the second provider's calls out", STUCK, || async {
        in_flight(&system, SECOND_PROVIDER).await >= 2
    })
    .await;

    let started = Instant::now();
    system.pay("a-1", "3.00", "direct").await;
    let paid = system.payment_in("a-1", "succeeded", STUCK).await;
    let took = started.elapsed();
    assert!(
        took < STUCK / 2,
        "mockpay's payment took {took:?} while {SECOND_PROVIDER} timed out: it waited for the other provider"
    );
    assert_eq!(system.truth(paid.id).await.charges, 1);
    assert!(in_flight(&system, SECOND_PROVIDER).await >= 2, "the other provider's calls were still out");
    system.stop().await;
}
