//! Reconciliation end to end: mockpay's bill-fault knobs produce every kind of discrepancy, the
//! engine finds each (and nothing else), a query proves the lost notifications through the
//! dispatcher, the cross-day window holds our rows back, a batch re-runs idempotently and resumes
//! from its cursor, a settlement short by a fee and a bank-initiated refund are reported, and a
//! person's resolution is audited. The benchmark's bin (`recon-bench`) runs in small.

use chrono::{Duration as Days, NaiveDate, Utc};
use mockpay::{BillFault, BillFaultKind, Fault, Operation};
use paygate::providers::adapter::trade_no;
use paygate::recon::{Kind, Quiet, ReconConfig, Run, engine, proofs};
use paygate::store::recon;
use paygate_e2e::System;
use paygate_e2e::recon_kit::{WITHIN, adapter, found, paid, patient, refund_in, topology};
use paygate_e2e::system::MERCHANT;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn reconcile(system: &System, kind: Kind, day: NaiveDate, window_days: u32) -> recon::Batch {
    let run = Run {
        provider: "mockpay",
        day,
        kind,
        config: ReconConfig { window_days, fee_ppm: 6_000, ..ReconConfig::default() },
    };
    engine::run(&system.db.pool, &topology(system), &adapter(system), run, &Quiet)
        .await
        .expect("the batch runs")
}

/// (kind, payment) of every discrepancy, sorted.
fn kinds(found: &[recon::Discrepancy]) -> Vec<(String, Option<Uuid>)> {
    let mut k: Vec<_> = found.iter().map(|d| (d.kind.clone(), d.payment_id)).collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trade_discrepancy_kind_is_found_and_lost_notifications_are_proven() {
    let system = System::with(patient()).await;
    let admin = system.mockpay.admin();
    let clean = paid(&system, "r-clean", "10.00").await;
    let dropped = paid(&system, "r-dropped", "10.00").await;
    let amount = paid(&system, "r-amount", "10.00").await;
    let fee = paid(&system, "r-fee", "10.00").await;
    let status = paid(&system, "r-status", "10.00").await;
    let twice = paid(&system, "r-twice", "10.00").await;
    let refunded = paid(&system, "r-refunded", "10.00").await;
    system.refund("r-refunded", "rf-amount", "3.00", "alice").await;
    let refund_amount = refund_in(&system, "rf-amount", "succeeded").await;
    system.refund("r-refunded", "rf-dropped", "2.00", "alice").await;
    let refund_dropped = refund_in(&system, "rf-dropped", "succeeded").await;
    // A refund whose success we never hear about: PROCESSING until mockpay completes it.
    let slow_refund_order = paid(&system, "r-slow-refund", "10.00").await;
    admin
        .script_fault(&trade_no(slow_refund_order), Operation::Refund, Fault::ProcessingForever, 1)
        .await
        .unwrap();
    system.refund("r-slow-refund", "rf-slow", "4.00", "alice").await;
    let slow = refund_in(&system, "rf-slow", "processing").await;
    admin.complete_refund(&trade_no(slow.id), true).await.unwrap();
    // A QR payment the customer paid, whose notification was lost (no follow-up for 10 minutes).
    system.pay("r-lost", "10.00", "qr").await;
    let lost = system.payment_in("r-lost", "action_required", WITHIN).await.id;
    admin.pay(&trade_no(lost)).await.unwrap();

    let day = today();
    let never = Uuid::now_v7();
    for f in [
        BillFault::new(BillFaultKind::DropLine).order(trade_no(dropped)),
        BillFault::new(BillFaultKind::Amount).order(trade_no(amount)).amount(999),
        BillFault::new(BillFaultKind::Fee).order(trade_no(fee)).fee(60),
        BillFault::new(BillFaultKind::Status).order(trade_no(status)).status("REVERSED"),
        BillFault::new(BillFaultKind::DuplicatePayment).order(trade_no(twice)),
        BillFault::new(BillFaultKind::AddPayment)
            .order(trade_no(never))
            .amount(500)
            .currency("CNY")
            .date(day),
        BillFault::new(BillFaultKind::Amount).refund(trade_no(refund_amount.id)).amount(350),
        BillFault::new(BillFaultKind::DropLine).refund(trade_no(refund_dropped.id)),
        BillFault::new(BillFaultKind::AddRefund)
            .order(trade_no(refunded))
            .refund(trade_no(Uuid::now_v7()))
            .amount(100)
            .currency("CNY")
            .date(day),
    ] {
        admin.bill_fault(&f).await.unwrap();
    }

    // Window 0: today's rows are judged by today's bill.
    let batch = reconcile(&system, Kind::Trade, day, 0).await;
    assert_eq!(batch.state, "discrepancies");
    let list = found(&system, &batch).await;
    let mut want = vec![
        ("amount_mismatch".to_owned(), Some(amount)),
        ("duplicate_payment".to_owned(), Some(twice)),
        ("fee_mismatch".to_owned(), Some(fee)),
        ("missing_at_provider".to_owned(), Some(dropped)),
        ("missing_locally".to_owned(), None),
        ("missing_locally".to_owned(), Some(lost)),
        ("refund_mismatch".to_owned(), Some(refunded)), // amount
        ("refund_mismatch".to_owned(), Some(refunded)), // dropped: missing at the provider
        ("refund_mismatch".to_owned(), Some(refunded)), // one we never asked for
        ("refund_mismatch".to_owned(), Some(slow_refund_order)), // lost notification
        ("status_mismatch".to_owned(), Some(status)),
    ];
    want.sort();
    assert_eq!(kinds(&list), want, "{list:#?}");
    assert!(list.iter().all(|d| d.payment_id != Some(clean)));
    let forged = list.iter().find(|d| d.kind == "missing_locally" && d.payment_id.is_none()).unwrap();
    assert_eq!(forged.trade_no.as_deref(), Some(trade_no(never).as_str()));
    let provable: Vec<_> = list.iter().filter(|d| d.provable).map(|d| d.payment_id.unwrap()).collect();
    assert_eq!(provable.len(), 2, "the lost payment and the lost refund: {list:#?}");
    assert!(list.iter().filter(|d| d.provable).all(|d| d.proof_requested_at.is_some()));

    // The dispatcher answers the proving queries; the scheduler's pass settles what they prove.
    system.payment_in("r-lost", "succeeded", WITHIN).await;
    refund_in(&system, "rf-slow", "succeeded").await;
    paygate_test_support::eventually("the proven discrepancies to be auto-resolved", WITHIN, || async {
        proofs::settle_proven(&system.db.pool).await.unwrap();
        found(&system, &batch).await.iter().filter(|d| d.state == "auto_resolved").count() == 2
    })
    .await;
    let list = found(&system, &batch).await;
    for d in list.iter().filter(|d| d.provable) {
        assert_eq!(d.state, "auto_resolved");
        assert_eq!(d.resolved_by.as_deref(), Some(proofs::ACTOR));
        let proof = d.proof.as_ref().unwrap();
        assert!(proof["transition_id"].as_i64().is_some(), "{proof}");
        let mut conn = system.db.pool.acquire().await.unwrap();
        let audit = recon::resolutions(&mut conn, d.id).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!((audit[0].action.as_str(), audit[0].to_state.as_str()), ("auto_proof", "auto_resolved"));
    }
    assert!(list.iter().filter(|d| !d.provable).all(|d| d.state == "open"), "the rest wait for a person");

    // Re-running the batch adds nothing and keeps the resolutions.
    let again = reconcile(&system, Kind::Trade, day, 0).await;
    assert_eq!(again.id, batch.id);
    assert_eq!(again.runs, 2);
    let relist = found(&system, &again).await;
    assert_eq!(relist.len(), list.len());
    assert_eq!(relist.iter().filter(|d| d.state == "auto_resolved").count(), 2);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_rows_wait_out_the_cross_day_window() {
    let system = System::with(patient()).await;
    let admin = system.mockpay.admin();
    let gone = paid(&system, "w-gone", "10.00").await;
    let late = paid(&system, "w-late", "10.00").await;
    admin.bill_fault(&BillFault::new(BillFaultKind::DropLine).order(trade_no(gone))).await.unwrap();
    let day = today();

    // Within the window: waiting, not missing.
    let batch = reconcile(&system, Kind::Trade, day, 3).await;
    assert_eq!(batch.state, "matched", "{:?}", found(&system, &batch).await);
    assert_eq!(batch.counts["waiting"], 1);

    // Our record says both completed three days ago (the provider's bill of today lists `late`):
    // with a window of 3, today's batch judges them.
    sqlx::query("UPDATE payments SET succeeded_at = succeeded_at - interval '3 days' WHERE id = ANY($1)")
        .bind(vec![gone, late])
        .execute(&system.db.pool)
        .await
        .unwrap();
    let batch = reconcile(&system, Kind::Trade, day, 3).await;
    assert_eq!(kinds(&found(&system, &batch).await), [("missing_at_provider".to_owned(), Some(gone))]);
    assert_eq!(batch.counts["waiting"], 0);

    // Yesterday's bill (empty) does not judge rows of three days ago with a window of 3... but a
    // window of 2 does, and `late` is found in today's bill, so only `gone` is missing.
    let yesterday = reconcile(&system, Kind::Trade, day - Days::days(1), 2).await;
    assert_eq!(kinds(&found(&system, &yesterday).await), [("missing_at_provider".to_owned(), Some(gone))]);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_settlement_matches() {
    let system = System::with(patient()).await;
    paid(&system, "m-a", "10.00").await;
    paid(&system, "m-b", "20.00").await;
    let batch = reconcile(&system, Kind::Settlement, today(), 3).await;
    assert_eq!(batch.state, "matched", "{:?}", found(&system, &batch).await);
    assert_eq!(batch.totals[0]["net_minor"], 3000 - 18);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_broke_off_resumes_from_its_cursor() {
    let system = System::with(patient()).await;
    for i in 0..5 {
        paid(&system, &format!("c-{i}"), "10.00").await;
    }
    let day = today();
    let first = reconcile(&system, Kind::Trade, day, 0).await;
    assert_eq!(first.counts["lines"], 5);
    assert_eq!(first.lines_loaded, 5);
    // As if the process died after committing the first two lines.
    sqlx::query("DELETE FROM recon_lines WHERE batch_id = $1 AND line_no > 2")
        .bind(first.id)
        .execute(&system.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE recon_batches SET download_complete = false, lines_loaded = 2, state = 'failed', error = 'killed' WHERE id = $1")
        .bind(first.id)
        .execute(&system.db.pool)
        .await
        .unwrap();
    let resumed = reconcile(&system, Kind::Trade, day, 0).await;
    assert_eq!((resumed.state.as_str(), resumed.lines_loaded, resumed.runs), ("matched", 5, 2));
    assert_eq!(resumed.counts["lines"], 5, "the first two lines were not loaded twice");
    assert_eq!(resumed.error, None);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_short_by_a_fee_and_a_bank_refund_are_reported() {
    let system = System::with(patient()).await;
    let admin = system.mockpay.admin();
    let a = paid(&system, "s-a", "10.00").await;
    paid(&system, "s-b", "20.00").await;
    let day = today();
    admin
        .bill_fault(&BillFault::new(BillFaultKind::SettlementShort).amount(6).currency("CNY").date(day))
        .await
        .unwrap();
    admin
        .bill_fault(
            &BillFault::new(BillFaultKind::BankRefund)
                .order(trade_no(a))
                .amount(500)
                .currency("CNY")
                .date(day),
        )
        .await
        .unwrap();
    let batch = reconcile(&system, Kind::Settlement, day, 3).await;
    let list = found(&system, &batch).await;
    let by_kind: BTreeMap<&str, &recon::Discrepancy> = list.iter().map(|d| (d.kind.as_str(), d)).collect();
    assert_eq!(by_kind.len(), 2, "{list:#?}");
    let bank = by_kind["bank_refund"];
    assert_eq!(bank.payment_id, Some(a));
    assert_eq!(batch.totals[0]["fees_minor"], 18);
    let short = by_kind["settlement_mismatch"];
    // 30.00 paid, fees 0.18: short by the 5.00 the bank refunded plus the 0.06 fee taken twice.
    assert!(short.detail.contains("short by 506"), "{}", short.detail);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_resolution_is_audited_and_final() {
    let system = System::with(patient()).await;
    let a = paid(&system, "p-a", "10.00").await;
    system
        .mockpay
        .admin()
        .bill_fault(&BillFault::new(BillFaultKind::Fee).order(trade_no(a)).fee(1))
        .await
        .unwrap();
    let batch = reconcile(&system, Kind::Trade, today(), 0).await;
    let d = found(&system, &batch).await.pop().unwrap();
    assert_eq!(d.kind, "fee_mismatch");
    let mut tx = system.db.pool.begin().await.unwrap();
    let empty =
        recon::Action { action: "accept", actor: "carol", reason: " ", to_state: "resolved", proof: None };
    let e = recon::resolve(&mut tx, d.id, &empty).await.unwrap_err();
    assert!(e.to_string().starts_with("reason:"), "{e}");
    let action = recon::Action {
        action: "accept",
        actor: "carol",
        reason: "mockpay refunded the fee difference by credit note 42",
        to_state: "resolved",
        proof: None,
    };
    recon::resolve(&mut tx, d.id, &action).await.unwrap();
    tx.commit().await.unwrap();
    let mut conn = system.db.pool.acquire().await.unwrap();
    let after = recon::discrepancy(&mut conn, d.id).await.unwrap().unwrap();
    assert_eq!((after.state.as_str(), after.resolved_by.as_deref()), ("resolved", Some("carol")));
    let e = recon::resolve(&mut conn, d.id, &action).await.unwrap_err();
    assert!(matches!(e, recon::ResolveError::AlreadySettled { .. }), "{e}");
    let audit = recon::resolutions(&mut conn, d.id).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "carol");
    let edit = sqlx::query("UPDATE recon_resolutions SET reason = 'x'").execute(&mut *conn).await;
    assert!(edit.is_err(), "the audit trail is append-only");
    system.stop().await;
}

/// The benchmark's bin in small (20,000 payments, 60 planted): it finds every planted
/// discrepancy and nothing else, and ends with the line docs/benchmarks.md shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_finds_every_planted_discrepancy_and_nothing_else() {
    // The bench (re)creates a database of its own on this server: DATABASE_URL's.
    let db = paygate_test_support::TestDb::new().await;
    let name = format!("{}_bench", db.name);
    let bill = std::env::temp_dir().join(format!("{name}.csv"));
    let bill = bill.to_str().expect("a UTF-8 temporary path");
    let args = ["--payments", "20000", "--planted", "60", "--database", &name, "--bill", bill];
    let out = paygate_test_support::run_to_exit(
        env!("CARGO_BIN_EXE_recon-bench"),
        &args,
        &[("DATABASE_URL", db.url.as_str())],
        Duration::from_secs(120),
    )
    .await;
    let _ = std::fs::remove_file(bill);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(out.code, Some(0), "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    let last = out.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("recon: 20010 lines in ") && last.ends_with(", found 60/60"),
        "last line: {last:?}\nstderr:\n{}",
        out.stderr
    );
}

/// A manual-capture payment authorised for 10.00 and captured for 6.00: the bill's line is the
/// captured 6.00, so the clean one matches and a line of the authorised 10.00 is an amount
/// mismatch ("we say 600"): reconciliation compares with what was captured, not what was
/// authorised. The authorised-only one (never captured) has no bill line and is not missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partly_captured_payment_reconciles_at_its_captured_amount() {
    let system = System::with(patient()).await;
    let admin = system.mockpay.admin();
    let manual = |order: &str| {
        let mut command = paygate_e2e::system::pay_command(order, "10.00", "direct");
        command["capture"] = serde_json::json!("manual");
        command
    };
    let capture = |order: &str| serde_json::json!({"merchant_id": MERCHANT, "merchant_order_no": order, "amount": "6.00", "currency": "CNY"});
    for order in ["r-captured", "r-captured-wrong", "r-authorised"] {
        system.upstream.command("command.pay", order, manual(order)).await;
        system.payment_in(order, "authorized", WITHIN).await;
    }
    for order in ["r-captured", "r-captured-wrong"] {
        system.upstream.command("command.capture", order, capture(order)).await;
        system.wait_for(order, "payment.captured", WITHIN).await;
    }
    let clean = system.payment_in("r-captured", "succeeded", WITHIN).await;
    assert_eq!(clean.captured.map(|m| m.minor_units()), Some(600));
    let wrong = system.payment_in("r-captured-wrong", "succeeded", WITHIN).await.id;
    let authorised = system.payment_in("r-authorised", "authorized", WITHIN).await.id;
    admin
        .bill_fault(&BillFault::new(BillFaultKind::Amount).order(trade_no(wrong)).amount(1_000))
        .await
        .unwrap();

    let batch = reconcile(&system, Kind::Trade, today(), 0).await;
    let list = found(&system, &batch).await;
    assert_eq!(kinds(&list), [("amount_mismatch".to_owned(), Some(wrong))], "{list:#?}");
    assert!(list[0].detail.contains("we say 600 CNY"), "{}", list[0].detail);
    assert!(list.iter().all(|d| d.payment_id != Some(clean.id) && d.payment_id != Some(authorised)));
    system.stop().await;
}
