//! Bills and settlements: the day's lines with fees, every bill fault, the settlement trailer,
//! signing, and byte-identical repeated downloads.

use crate::support::{Env, order_id, refund_id};
use mockpay::{BillFault, BillFaultKind};

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

async fn bill(env: &Env, path: &str) -> Vec<String> {
    let (status, text) = env.client.get_text(path).await.expect("bill answered");
    assert_eq!(status, 200, "{text}");
    text.lines().map(str::to_owned).collect()
}

fn fields(line: &str) -> Vec<&str> {
    line.split(',').collect()
}

fn line_of<'a>(lines: &'a [String], kind: &str, id: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.starts_with(kind) && l.contains(id)).collect()
}

#[tokio::test]
async fn a_bill_lists_the_days_payments_and_refunds_with_fees_sorted_by_order() {
    let env = Env::start().await;
    let a = env.paid_order(1250, None).await;
    let b = env.paid_order(1000, None).await;
    let r = refund_id();
    assert_eq!(env.refund(&a, &r, 300).await.code(), "0000");
    env.refund_status_becomes(&r, "SUCCEEDED").await;
    let lines = bill(&env, &format!("/v1/bills/{}", today())).await;
    assert_eq!(lines[0], mockpay::bill::HEADER);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let pay_a = fields(line_of(&lines, "PAYMENT", &a)[0]);
    assert_eq!(&pay_a[5..9], &["1250", "8", "JPY", "SUCCEEDED"], "6000 ppm of 1250 is 7.5, rounded up");
    assert_eq!(pay_a[3].len(), 19);
    let refund = fields(line_of(&lines, "REFUND", &r)[0]);
    assert_eq!(&refund[1..3], &[a.as_str(), r.as_str()]);
    assert_eq!(&refund[5..9], &["300", "0", "JPY", "SUCCEEDED"]);
    assert_eq!(refund[3], pay_a[3], "a refund line names its payment's transaction");
    let orders: Vec<&str> = lines[1..].iter().map(|l| fields(l)[1]).collect();
    let mut sorted = orders.clone();
    sorted.sort();
    assert_eq!(orders, sorted);
    assert!(lines.iter().any(|l| l.contains(&b)));
    // Another day has nothing; a repeated download is identical.
    let yesterday = today().pred_opt().unwrap();
    assert_eq!(bill(&env, &format!("/v1/bills/{yesterday}")).await.len(), 1);
    assert_eq!(bill(&env, &format!("/v1/bills/{}", today())).await, lines);
}

#[tokio::test]
async fn bills_are_signed_and_dates_are_checked() {
    let env = Env::start().await;
    let (status, _) = reqwest::get(format!("{}/v1/bills/{}", env.mp.base_url(), today()))
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401);
    let (status, text) = env.client.get_text("/v1/bills/2026-13-01").await.unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("1110") && text.contains("date"), "{text}");
}

#[tokio::test]
async fn every_bill_fault_shows_in_the_bill() {
    let env = Env::start().await;
    let day = today();
    let dropped = env.paid_order(1000, None).await;
    let amount = env.paid_order(1000, None).await;
    let fee = env.paid_order(1000, None).await;
    let status = env.paid_order(1000, None).await;
    let twice = env.paid_order(1000, None).await;
    let refunded = env.paid_order(1000, None).await;
    let (r_drop, r_amount) = (refund_id(), refund_id());
    for (r, amt) in [(&r_drop, 100), (&r_amount, 200)] {
        assert_eq!(env.refund(&refunded, r, amt).await.code(), "0000");
        env.refund_status_becomes(r, "SUCCEEDED").await;
    }
    let never = order_id();
    let foreign_refund = refund_id();
    let faults = [
        BillFault::new(BillFaultKind::DropLine).order(&dropped),
        BillFault::new(BillFaultKind::Amount).order(&amount).amount(999),
        BillFault::new(BillFaultKind::Fee).order(&fee).fee(60),
        BillFault::new(BillFaultKind::Status).order(&status).status("REVERSED"),
        BillFault::new(BillFaultKind::DuplicatePayment).order(&twice),
        BillFault::new(BillFaultKind::AddPayment).order(&never).amount(500).currency("JPY").date(day),
        BillFault::new(BillFaultKind::DropLine).refund(&r_drop),
        BillFault::new(BillFaultKind::Amount).refund(&r_amount).amount(250),
        BillFault::new(BillFaultKind::AddRefund)
            .order(&refunded)
            .refund(&foreign_refund)
            .amount(50)
            .currency("JPY")
            .date(day),
    ];
    for f in &faults {
        env.admin.bill_fault(f).await.expect("fault accepted");
    }
    assert_eq!(env.admin.bill_faults().await.unwrap().len(), faults.len());
    let lines = bill(&env, &format!("/v1/bills/{day}")).await;
    assert!(line_of(&lines, "PAYMENT", &dropped).is_empty());
    assert_eq!(fields(line_of(&lines, "PAYMENT", &amount)[0])[5], "999");
    assert_eq!(fields(line_of(&lines, "PAYMENT", &fee)[0])[6], "60");
    assert_eq!(fields(line_of(&lines, "PAYMENT", &status)[0])[8], "REVERSED");
    let dup = line_of(&lines, "PAYMENT", &twice);
    assert_eq!(dup.len(), 2);
    assert_ne!(fields(dup[0])[3], fields(dup[1])[3], "two transactions for one order");
    let added = fields(line_of(&lines, "PAYMENT", &never)[0]);
    assert_eq!(&added[5..8], &["500", "3", "JPY"]);
    assert!(line_of(&lines, "REFUND", &r_drop).is_empty());
    assert_eq!(fields(line_of(&lines, "REFUND", &r_amount)[0])[5], "250");
    assert_eq!(fields(line_of(&lines, "REFUND", &foreign_refund)[0])[5], "50");
    // Identical on every download, added transaction ids included.
    assert_eq!(bill(&env, &format!("/v1/bills/{day}")).await, lines);
    env.admin.clear_bill_faults().await.unwrap();
    assert_eq!(line_of(&bill(&env, &format!("/v1/bills/{day}")).await, "PAYMENT", &dropped).len(), 1);
}

#[tokio::test]
async fn a_settlement_has_the_lines_bank_refunds_and_totals_and_can_be_short() {
    let env = Env::start().await;
    let day = today();
    let a = env.paid_order(1000, None).await;
    let _b = env.paid_order(2000, None).await;
    let r = refund_id();
    assert_eq!(env.refund(&a, &r, 400).await.code(), "0000");
    env.refund_status_becomes(&r, "SUCCEEDED").await;
    let path = format!("/v1/settlements/{day}");
    let lines = bill(&env, &path).await;
    assert_eq!(lines.last().unwrap(), "#TOTAL,JPY,3000,400,18,2582,3");
    env.admin
        .bill_fault(
            &BillFault::new(BillFaultKind::BankRefund).order(&a).amount(100).currency("JPY").date(day),
        )
        .await
        .unwrap();
    env.admin
        .bill_fault(&BillFault::new(BillFaultKind::SettlementShort).amount(6).currency("JPY").date(day))
        .await
        .unwrap();
    let lines = bill(&env, &path).await;
    let bank = fields(line_of(&lines, "BANK_REFUND", &a)[0]);
    assert_eq!(bank[2], "", "nobody asked for it: no refundId");
    assert_eq!(bank[5], "100");
    assert_eq!(lines.last().unwrap(), "#TOTAL,JPY,3000,500,18,2476,4", "net short by 6");
    // The bill itself has no bank refunds and no trailer.
    let trade = bill(&env, &format!("/v1/bills/{day}")).await;
    assert!(line_of(&trade, "BANK_REFUND", &a).is_empty());
    assert!(!trade.last().unwrap().starts_with('#'));
}

#[tokio::test]
async fn bill_faults_are_validated_and_reset() {
    let env = Env::start().await;
    let e = env.admin.bill_fault(&BillFault::new(BillFaultKind::Fee).order("o-1")).await.unwrap_err();
    assert!(e.to_string().contains("fee: required"), "{e}");
    env.admin.bill_fault(&BillFault::new(BillFaultKind::DropLine).order("o-1")).await.unwrap();
    env.admin.reset().await.unwrap();
    assert!(env.admin.bill_faults().await.unwrap().is_empty());
}
