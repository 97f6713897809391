//! Reconciliation without a bill: the query sweep (`recon::sweep`, kind `sweep`) asks mockpay
//! about each payment and refund we finished today and finds, as discrepancies of the bill's
//! kinds, what mockpay's answers disagree with; a query that fails ends the run with the batch
//! `failed` and the next run resumes without asking again what it already has; the pace is
//! bounded. mockpay offers bills, but any adapter can be swept: the sweep uses only queries.

use chrono::{NaiveDate, Utc};
use mockpay::{Fault, Operation};
use paygate::providers::adapter::trade_no;
use paygate::recon::{Kind, Quiet, ReconConfig, Run, engine};
use paygate::store::recon;
use paygate_e2e::System;
use paygate_e2e::recon_kit::{adapter, found, paid, patient, refund_in, topology};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn sweep(system: &System, per_second: u32) -> anyhow::Result<recon::Batch> {
    let config = ReconConfig { window_days: 0, sweep_per_second: per_second, ..ReconConfig::default() };
    let run = Run { provider: "mockpay", day: today(), kind: Kind::Sweep, config };
    engine::run(&system.db.pool, &topology(system), &adapter(system), run, &Quiet).await
}

async fn batch_now(system: &System, id: i64) -> recon::Batch {
    let mut conn = system.db.pool.acquire().await.unwrap();
    recon::batch(&mut conn, id).await.unwrap().unwrap()
}

/// (kind, payment, refund) of every discrepancy, sorted.
fn kinds(found: &[recon::Discrepancy]) -> Vec<(String, Option<Uuid>, Option<Uuid>)> {
    let mut k: Vec<_> = found.iter().map(|d| (d.kind.clone(), d.payment_id, d.refund_id)).collect();
    k.sort();
    k
}

/// How many queries (of payments and of refunds) the exchange log holds for these payments.
async fn queries_of(system: &System, payments: &[Uuid]) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM provider_exchanges WHERE payment_id = ANY($1) AND operation IN ('query', 'refund_query')",
    )
    .bind(payments)
    .fetch_one(&system.db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_finds_what_the_providers_answers_disagree_with_and_resumes_after_a_failed_query() {
    let system = System::with(patient()).await;
    let admin = system.mockpay.admin();
    let clean = paid(&system, "s-clean", "10.00").await;
    let unknown_there = paid(&system, "s-unknown-there", "10.00").await;
    let our_amount_wrong = paid(&system, "s-amount", "10.00").await;
    let breaks = paid(&system, "s-breaks", "10.00").await;
    let refunded = paid(&system, "s-refunded", "10.00").await;
    system.refund("s-refunded", "sr-ok", "3.00", "alice").await;
    let refund_ok = refund_in(&system, "sr-ok", "succeeded").await;
    let refund_lost_order = paid(&system, "s-refund-unknown-there", "10.00").await;
    system.refund("s-refund-unknown-there", "sr-unknown-there", "2.00", "alice").await;
    let refund_unknown = refund_in(&system, "sr-unknown-there", "succeeded").await;
    let all = [clean, unknown_there, our_amount_wrong, breaks, refunded, refund_lost_order];

    // What the provider will say, and what we say, apart:
    admin.script_fault(&trade_no(unknown_there), Operation::Query, Fault::NotFound, 1).await.unwrap();
    // (mockpay keys a refund query's script by the refund's order.)
    admin
        .script_fault(&trade_no(refund_lost_order), Operation::RefundQuery, Fault::NotFound, 1)
        .await
        .unwrap();
    // Our record planted wrong (mockpay's answer states the amount it took: 1000).
    sqlx::query("UPDATE payments SET amount_minor = 1200 WHERE id = $1")
        .bind(our_amount_wrong)
        .execute(&system.db.pool)
        .await
        .unwrap();
    // The query of one payment fails once: the first run stops there.
    admin.script_fault(&trade_no(breaks), Operation::Query, Fault::Http500, 1).await.unwrap();

    let before = queries_of(&system, &all).await;
    let failed = sweep(&system, 1_000).await.expect_err("the failed query ends the run");
    let message = format!("{failed:#}");
    assert!(message.contains(&trade_no(breaks)), "the error names the order: {message}");
    let batches: Vec<recon::Batch> = {
        let mut conn = system.db.pool.acquire().await.unwrap();
        recon::batches(&mut conn, 10).await.unwrap()
    };
    let batch = batches.into_iter().find(|b| b.kind == "sweep").expect("the sweep's batch");
    let batch = batch_now(&system, batch.id).await;
    assert_eq!(batch.state, "failed");
    // Payments in id order: clean, unknown_there and our_amount_wrong were asked and kept.
    assert_eq!(batch.lines_loaded, 3, "the lines before the failed query are kept");
    assert_eq!(queries_of(&system, &all).await - before, 4);

    let batch = sweep(&system, 1_000).await.expect("the second run resumes and finishes");
    assert_eq!((batch.state.as_str(), batch.runs), ("discrepancies", 2));
    // Six payments and two refunds, each asked about once, the broken one twice.
    assert_eq!(batch.lines_loaded, 8);
    assert_eq!(queries_of(&system, &all).await - before, 9, "nothing asked twice but the failed query");

    let list = found(&system, &batch).await;
    let mut want = vec![
        ("status_mismatch".to_owned(), Some(unknown_there), None),
        ("amount_mismatch".to_owned(), Some(our_amount_wrong), None),
        ("refund_mismatch".to_owned(), Some(refund_lost_order), Some(refund_unknown.id)),
    ];
    want.sort();
    assert_eq!(kinds(&list), want, "{list:#?}");
    let status = list.iter().find(|d| d.kind == "status_mismatch").unwrap();
    assert!(status.detail.contains("NOT_FOUND"), "{}", status.detail);
    assert!(list.iter().all(|d| d.refund_id != Some(refund_ok.id)));
    assert!(list.iter().all(|d| !d.provable), "the sweep covers finished rows only: nothing to prove");

    // Every query of the sweep is in the exchange log under its payment.
    let logged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM provider_exchanges WHERE refund_id = $1 AND operation = 'refund_query'",
    )
    .bind(refund_unknown.id)
    .fetch_one(&system.db.pool)
    .await
    .unwrap();
    assert!(logged >= 1);

    // A re-run asks nothing more and finds the same.
    let again = sweep(&system, 1_000).await.unwrap();
    assert_eq!(queries_of(&system, &all).await - before, 9);
    assert_eq!(kinds(&found(&system, &again).await), want);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_keeps_to_its_pace() {
    let system = System::with(patient()).await;
    for i in 0..5 {
        paid(&system, &format!("pace-{i}"), "1.00").await;
    }
    // Two a second: the first two at once, then one every half second, so five take at least
    // 1.5 s however fast mockpay answers (a lower bound: a slow machine cannot break it).
    let started = Instant::now();
    let batch = sweep(&system, 2).await.unwrap();
    let took = started.elapsed();
    assert_eq!((batch.state.as_str(), batch.lines_loaded), ("matched", 5));
    assert!(took >= Duration::from_millis(1_450), "five queries at two a second took {took:?}");
    system.stop().await;
}
