//! `payctl payment query` and `payctl refund approve|reject` end to end, against a whole system
//! (ingest and a dispatcher with mockpay, from the e2e harness): each sends its work to the
//! order's shard and the dispatcher applies it; a request the rules refuse names the field and
//! the rule, and sends nothing.

use paygate::domain::{Currency, Money};
use paygate::store::policies::{self, Policy};
use paygate_e2e::system::{MERCHANT, PREFIX};
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::{Finished, run_to_exit};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_payctl");
const WITHIN: Duration = Duration::from_secs(30);

async fn payctl(system: &System, args: &[&str]) -> Finished {
    let env = [
        ("DATABASE_URL", system.db.url.as_str()),
        ("AMQP_URL", system.vhost.amqp_url.as_str()),
        ("AMQP_PREFIX", PREFIX),
        ("ORDER_SHARDS", "2"),
        ("RETRY_TIERS", system.options.retry_tiers.as_str()),
    ];
    run_to_exit(BIN, args, &env, WITHIN).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_query_asks_the_provider_now() {
    // The dispatcher's own follow-up is 10 minutes away: only payctl's query can find the payment.
    let system = System::with(SystemOptions { retry_tiers: "10m".into(), ..SystemOptions::default() }).await;
    system.pay("o-ask", "7.00", "qr").await;
    system.wait_for("o-ask", "payment.action_required", WITHIN).await;
    let payment = system.payment("o-ask").await.unwrap();
    system.mockpay.admin().pay(&paygate::providers::adapter::trade_no(payment.id)).await.unwrap();

    let out = payctl(&system, &["payment", "query", "o-ask", "--merchant", MERCHANT, "--json"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let sent: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(sent["op"], "order.query");
    assert_eq!(sent["payment_id"], payment.id.to_string());
    system.wait_for("o-ask", "payment.succeeded", WITHIN).await;

    // A table for people.
    let out = payctl(&system, &["payment", "query", &payment.id.to_string()]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("order.query") && out.stdout.contains("query sent"), "{}", out.stdout);

    let out = payctl(&system, &["payment", "query", "o-ask"]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("payment: \"o-ask\" is not a payment id"), "{}", out.stderr);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_are_approved_and_rejected_by_a_second_person() {
    let system = System::start().await;
    {
        let mut conn = system.db.pool.acquire().await.unwrap();
        let policy = Policy {
            refund_approval_over: Some(Money::from_minor(100, Currency::CNY).unwrap()),
            ..Policy::default_for(MERCHANT, Currency::CNY)
        };
        policies::set(&mut conn, &policy).await.unwrap();
    }
    system.pay("o-four-eyes", "20.00", "direct").await;
    system.wait_for("o-four-eyes", "payment.succeeded", WITHIN).await;
    system.refund("o-four-eyes", "r-approve", "5.00", "alice").await;
    system.refund("o-four-eyes", "r-reject", "6.00", "alice").await;
    paygate_test_support::eventually("two refunds awaiting approval", WITHIN, || async {
        system
            .upstream
            .order_events("o-four-eyes")
            .iter()
            .filter(|e| e.kind == "refund.awaiting_approval")
            .count()
            == 2
    })
    .await;

    // Four eyes: the requester may not approve.
    let out =
        payctl(&system, &["refund", "approve", "r-approve", "--merchant", MERCHANT, "--approver", "alice"])
            .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("approver: must not be the person who requested the refund"),
        "{}",
        out.stderr
    );

    let out =
        payctl(&system, &["refund", "approve", "r-approve", "--merchant", MERCHANT, "--approver", "bob"])
            .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("order.decide_refund") && out.stdout.contains("approval sent"),
        "{}",
        out.stdout
    );
    system.wait_for("o-four-eyes", "refund.succeeded", WITHIN).await;

    // A rejection needs a reason: clap says so before anything is looked up.
    let out =
        payctl(&system, &["refund", "reject", "r-reject", "--merchant", MERCHANT, "--approver", "bob"]).await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("--reason"), "{}", out.stderr);
    let out = payctl(
        &system,
        &[
            "refund",
            "reject",
            "r-reject",
            "--merchant",
            MERCHANT,
            "--approver",
            "bob",
            "--reason",
            " ",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("reason: must not be empty"), "{}", out.stderr);
    let out = payctl(
        &system,
        &[
            "refund",
            "reject",
            "r-reject",
            "--merchant",
            MERCHANT,
            "--approver",
            "bob",
            "--reason",
            "duplicate",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let sent: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(sent["refund_no"], "r-reject");
    system.wait_for("o-four-eyes", "refund.rejected", WITHIN).await;

    // Decided already: nothing left to approve.
    let out =
        payctl(&system, &["refund", "approve", "r-approve", "--merchant", MERCHANT, "--approver", "carol"])
            .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("refund: the refund is succeeded; only a refund awaiting_approval can be approved"),
        "{}",
        out.stderr
    );
    let out =
        payctl(&system, &["refund", "approve", "r-nope", "--merchant", MERCHANT, "--approver", "carol"])
            .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("refund: no refund r-nope for merchant m-1"), "{}", out.stderr);
    system.stop().await;
}
