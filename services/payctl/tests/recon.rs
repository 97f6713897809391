//! `payctl recon run|list|show|resolve` as an operator runs them: the real binary against a whole
//! system (ingest and a dispatcher with mockpay, from the e2e harness) whose mockpay bill is made
//! to disagree with our books by its bill-fault knobs. A run reports its batch and counts, the
//! list and a batch's page show what was found, a person's resolution is audited (who, when, why)
//! and final, and every request the rules refuse names the flag or argument and the rule.

use chrono::{DateTime, NaiveDate, Utc};
use mockpay::{BillFault, BillFaultKind, Fault, Operation};
use paygate::providers::adapter::trade_no;
use paygate::store::recon;
use paygate_e2e::system::{MOCKPAY_MERCHANT, MOCKPAY_SECRET, PREFIX};
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::{Finished, run_to_exit};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_payctl");
const WITHIN: Duration = Duration::from_secs(30);

/// Runs payctl against `system`, with mockpay as the provider whose bills are read and a window
/// of 0 days (today's rows are judged by today's bill), plus `extra` environment.
async fn payctl_with(system: &System, args: &[&str], extra: &[(&str, &str)]) -> Finished {
    let mut env = vec![
        ("DATABASE_URL", system.db.url.as_str()),
        ("AMQP_URL", system.vhost.amqp_url.as_str()),
        ("AMQP_PREFIX", PREFIX),
        ("ORDER_SHARDS", "2"),
        ("RETRY_TIERS", system.options.retry_tiers.as_str()),
        ("PROVIDERS", "mockpay"),
        ("PAYGATE_PROVIDER_MOCKPAY_URL", system.mockpay.base_url()),
        ("PAYGATE_PROVIDER_MOCKPAY_MERCHANT", MOCKPAY_MERCHANT),
        ("PAYGATE_PROVIDER_MOCKPAY_SECRET", MOCKPAY_SECRET),
        ("RECON_WINDOW_DAYS", "0"),
    ];
    env.extend_from_slice(extra);
    run_to_exit(BIN, args, &env, WITHIN).await
}

async fn payctl(system: &System, args: &[&str]) -> Finished {
    payctl_with(system, args, &[]).await
}

/// Asserts a successful exit; returns stdout.
fn ok(out: Finished) -> String {
    assert_eq!(out.code, Some(0), "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    out.stdout
}

/// Asserts a failed exit with `code` whose stderr contains every one of `says`.
fn refused(out: &Finished, code: i32, says: &[&str]) {
    assert_eq!(out.code, Some(code), "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    for s in says {
        assert!(out.stderr.contains(s), "stderr lacks {s:?}:\n{}", out.stderr);
    }
    assert!(out.stdout.is_empty(), "a refusal prints no result: {}", out.stdout);
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// The body rows of a payctl table, cells trimmed; a cell wrapped onto continuation lines is
/// joined back with spaces.
fn rows(table: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header_seen = false;
    for line in table.lines() {
        if line.starts_with('╞') {
            header_seen = true;
            rows.clear(); // what came before was the header
            continue;
        }
        let Some(inner) = line.strip_prefix('│').and_then(|l| l.strip_suffix('│')) else { continue };
        let cells: Vec<String> = inner.split('┆').map(|c| c.trim().to_owned()).collect();
        match rows.last_mut() {
            Some(last) if cells[0].is_empty() => {
                for (have, more) in last.iter_mut().zip(cells) {
                    if !more.is_empty() {
                        have.push(' ');
                        have.push_str(&more);
                    }
                }
            }
            _ => rows.push(cells),
        }
    }
    assert!(header_seen, "no table in:\n{table}");
    rows
}

/// The row whose first cell is `id`.
fn row(rows: &[Vec<String>], id: i64) -> &[String] {
    rows.iter().find(|r| r[0] == id.to_string()).unwrap_or_else(|| panic!("no row {id} in {rows:?}"))
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A direct payment that succeeded; its id.
async fn paid(system: &System, order: &str, amount: &str) -> Uuid {
    system.pay(order, amount, "direct").await;
    system.payment_in(order, "succeeded", WITHIN).await.id
}

/// Follow-up queries only after ten minutes: nothing settles by itself during the test.
fn patient() -> SystemOptions {
    SystemOptions { retry_tiers: "10m".into(), ..SystemOptions::default() }
}

/// Today's bill lists a clean payment, one with the wrong fee and one we never made, and leaves
/// one of ours out: three discrepancies no query can prove, so they wait for a person.
async fn a_day_with_three_discrepancies(system: &System) -> (Uuid, Uuid) {
    paid(system, "cli-clean", "10.00").await;
    let fee = paid(system, "cli-fee", "10.00").await;
    let dropped = paid(system, "cli-dropped", "10.00").await;
    let admin = system.mockpay.admin();
    for f in [
        BillFault::new(BillFaultKind::Fee).order(trade_no(fee)).fee(61),
        BillFault::new(BillFaultKind::DropLine).order(trade_no(dropped)),
        BillFault::new(BillFaultKind::AddPayment)
            .order(trade_no(Uuid::now_v7()))
            .amount(500)
            .currency("CNY")
            .date(today()),
    ] {
        admin.bill_fault(&f).await.expect("mockpay takes the bill fault");
    }
    (fee, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recon_run_list_show_and_resolve_through_the_binary() {
    let system = System::with(patient()).await;
    let (fee, dropped) = a_day_with_three_discrepancies(&system).await;
    let day = today().to_string();

    // run, as a table: the batch line, its counts, and what it found. stderr is not a terminal
    // here, so no progress bar is drawn into it.
    let out = payctl(&system, &["recon", "run", "mockpay", &day]).await;
    assert!(out.stderr.is_empty(), "no progress bar off a terminal: {:?}", out.stderr);
    let stdout = ok(out);
    let batch_id: i64 = stdout
        .strip_prefix("batch ")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the first line names the batch:\n{stdout}"));
    let first = stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!("batch {batch_id} · mockpay {day} trade · discrepancies · 3 line(s) · run 1 time(s)")
    );
    let counts = stdout.lines().nth(1).unwrap().strip_prefix("counts: ").expect("a counts line");
    let counts = json(counts);
    assert_eq!((counts["lines"].as_i64(), counts["discrepancies"].as_i64()), (Some(3), Some(3)), "{counts}");
    assert_eq!(counts["by_state"]["open"], 3, "{counts}");
    let found = rows(&stdout);
    let mut kinds: Vec<(&str, &str)> = found.iter().map(|r| (r[1].as_str(), r[2].as_str())).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [("fee_mismatch", "open"), ("missing_at_provider", "open"), ("missing_locally", "open")],
        "{stdout}"
    );

    // run again, as JSON: the same batch, run twice, nothing found twice.
    let again = json(&ok(payctl(&system, &["recon", "run", "mockpay", &day, "--json"]).await));
    assert_eq!(again["batch"]["id"], batch_id);
    assert_eq!(again["batch"]["runs"], 2);
    assert_eq!(again["batch"]["state"], "discrepancies");
    assert_eq!(again["batch"]["counts"]["by_kind"]["fee_mismatch"], 1);
    assert_eq!(again["batch"]["counts"]["by_kind"]["missing_at_provider"], 1);
    assert_eq!(again["batch"]["counts"]["by_kind"]["missing_locally"], 1);
    let discrepancies = again["discrepancies"].as_array().expect("discrepancies");
    assert_eq!(discrepancies.len(), 3, "{again:#}");
    let id_of = |kind: &str| -> i64 {
        let d = discrepancies.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"));
        assert_eq!(d["state"], "open", "{d}");
        assert_eq!(d["provable"], false, "{d}");
        d["id"].as_i64().unwrap()
    };
    let (fee_id, dropped_id, forged_id) =
        (id_of("fee_mismatch"), id_of("missing_at_provider"), id_of("missing_locally"));
    let d = |id: i64| discrepancies.iter().find(|d| d["id"] == id).unwrap();
    assert_eq!(d(fee_id)["payment_id"], fee.to_string());
    assert_eq!(d(dropped_id)["payment_id"], dropped.to_string());
    assert_eq!(d(forged_id)["payment_id"], Value::Null);

    // list: the batch with its state and counts.
    let list = ok(payctl(&system, &["recon", "list"]).await);
    let listed = rows(&list);
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(
        &row(&listed, batch_id)[1..10],
        ["mockpay", day.as_str(), "trade", "discrepancies", "3", "3", "3", "0", "2"],
        "{list}"
    );
    let list = json(&ok(payctl(&system, &["recon", "list", "--json"]).await));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list:#}");
    assert_eq!((&list[0]["id"], &list[0]["state"]), (&Value::from(batch_id), &Value::from("discrepancies")));
    assert_eq!(list[0]["open"], 3, "{list:#}");

    // show: every discrepancy with its kind.
    let show = ok(payctl(&system, &["recon", "show", &batch_id.to_string()]).await);
    assert!(show.starts_with(&format!("batch {batch_id} · mockpay {day} trade · discrepancies")), "{show}");
    let shown = rows(&show);
    assert_eq!(shown.len(), 3, "{show}");
    let (fee_s, dropped_s) = (fee.to_string(), dropped.to_string());
    assert_eq!(&row(&shown, fee_id)[1..4], ["fee_mismatch", "open", fee_s.as_str()], "{show}");
    assert_eq!(&row(&shown, dropped_id)[1..4], ["missing_at_provider", "open", dropped_s.as_str()]);
    assert_eq!(&row(&shown, forged_id)[1..4], ["missing_locally", "open", "-"]);
    assert!(shown.iter().all(|r| r[7] == "-"), "nothing resolved yet: {show}");

    // resolve: who, when and why, in the audit trail and on the discrepancy.
    let before = Utc::now();
    let said = ok(payctl(
        &system,
        &[
            "recon",
            "resolve",
            &fee_id.to_string(),
            "--action",
            "accept",
            "--reason",
            "credit note 42",
            "--by",
            "carol",
        ],
    )
    .await);
    let after = Utc::now();
    let mut conn = system.db.pool.acquire().await.unwrap();
    let audit = recon::resolutions(&mut conn, fee_id).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    let a = &audit[0];
    assert_eq!(
        (a.from_state.as_str(), a.to_state.as_str(), a.action.as_str(), a.actor.as_str(), a.reason.as_str()),
        ("open", "resolved", "accept", "carol", "credit note 42")
    );
    let slack = chrono::Duration::seconds(1);
    assert!(before - slack <= a.at && a.at <= after + slack, "{} not within the command", a.at);
    assert_eq!(
        said.trim_end(),
        format!("discrepancy {fee_id}: open -> resolved (accept) by carol at {}: credit note 42", at(a.at))
    );
    let settled = recon::discrepancy(&mut conn, fee_id).await.unwrap().unwrap();
    assert_eq!(
        (settled.state.as_str(), settled.resolved_by.as_deref(), settled.resolution.as_deref()),
        ("resolved", Some("carol"), Some("accept: credit note 42"))
    );
    assert_eq!(settled.resolved_at, Some(a.at));

    // … and `recon show` says so; the list counts what is still open.
    let show = ok(payctl(&system, &["recon", "show", &batch_id.to_string()]).await);
    let shown = rows(&show);
    let fee_row = row(&shown, fee_id);
    assert_eq!(fee_row[2], "resolved", "{show}");
    assert_eq!(squeeze(&fee_row[7]), squeeze("accept: credit note 42 (carol)"), "{show}");
    assert_eq!(row(&shown, dropped_id)[2], "open");
    let shown = json(&ok(payctl(&system, &["recon", "show", &batch_id.to_string(), "--json"]).await));
    let fee_json = shown["discrepancies"].as_array().unwrap().iter().find(|d| d["id"] == fee_id).unwrap();
    assert_eq!(fee_json["state"], "resolved");
    assert_eq!(fee_json["resolved_by"], "carol");
    assert_eq!(fee_json["resolution"], "accept: credit note 42");
    let resolved_at: DateTime<Utc> = serde_json::from_value(fee_json["resolved_at"].clone()).unwrap();
    assert_eq!(resolved_at, a.at);
    let list = ok(payctl(&system, &["recon", "list"]).await);
    assert_eq!(row(&rows(&list), batch_id)[7], "2", "two still open:\n{list}");
    let list = json(&ok(payctl(&system, &["recon", "list", "--json"]).await));
    assert_eq!(list[0]["open"], 2, "{list:#}");
    assert_eq!(list[0]["counts"]["by_state"]["open"], 3, "the run's snapshot stays as it was: {list:#}");

    // requery asks the provider again and leaves the discrepancy open; audited too.
    let requeried = json(&ok(payctl(
        &system,
        &[
            "recon",
            "resolve",
            &dropped_id.to_string(),
            "--action",
            "requery",
            "--reason",
            "ask again",
            "--by",
            "dave",
            "--json",
        ],
    )
    .await));
    assert_eq!(
        (&requeried["from_state"], &requeried["to_state"], &requeried["action"], &requeried["actor"]),
        (&Value::from("open"), &Value::from("open"), &Value::from("requery"), &Value::from("dave"))
    );
    let still = recon::discrepancy(&mut conn, dropped_id).await.unwrap().unwrap();
    assert_eq!((still.state.as_str(), still.proof_requested_at.is_some()), ("open", true));

    // --by defaults to $USER; --json prints the audit row.
    let written = json(&ok(payctl_with(
        &system,
        &[
            "recon",
            "resolve",
            &forged_id.to_string(),
            "--action",
            "write_off",
            "--reason",
            "booked as a gain",
            "--json",
        ],
        &[("USER", "erin")],
    )
    .await));
    let audit = recon::resolutions(&mut conn, forged_id).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].actor.as_str(), audit[0].action.as_str()), ("erin", "write_off"));
    assert_eq!(written["id"], audit[0].id);
    assert_eq!(written["reason"], "booked as a gain");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recon_refusals_name_the_flag_and_the_rule() {
    let system = System::with(patient()).await;
    a_day_with_three_discrepancies(&system).await;
    let day = today().to_string();

    // run: the date and the provider are checked.
    let out = payctl(&system, &["recon", "run", "mockpay", "2024-02-30"]).await;
    refused(&out, 2, &["<DATE>", "must be yyyy-mm-dd, got \"2024-02-30\""]);
    let out = payctl(&system, &["recon", "run", "mockpay", "yesterday"]).await;
    refused(&out, 2, &["<DATE>", "must be yyyy-mm-dd"]);
    let out = payctl(&system, &["recon", "run", "stripe", &day]).await;
    refused(&out, 1, &["provider: \"stripe\" is not configured", "\"mockpay\""]);
    let out = payctl(&system, &["recon", "show", "424242"]).await;
    refused(&out, 1, &["id: no batch 424242"]);

    let batch = json(&ok(payctl(&system, &["recon", "run", "mockpay", &day, "--json"]).await));
    let id_of = |kind: &str| -> String {
        let all = batch["discrepancies"].as_array().expect("discrepancies");
        let d = all.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {batch:#}"));
        d["id"].as_i64().unwrap().to_string()
    };
    let (id, forged) = (id_of("fee_mismatch"), id_of("missing_locally"));
    let resolve = |extra: &'static [&'static str]| {
        let mut args = vec!["recon", "resolve", id.as_str()];
        args.extend_from_slice(extra);
        args
    };
    let audit = |id: &str| {
        let id: i64 = id.parse().unwrap();
        let pool = system.db.pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            recon::resolutions(&mut conn, id).await.unwrap()
        }
    };

    // resolve: the action and the reason are checked before anything changes.
    let out = payctl(&system, &resolve(&["--action", "accept", "--by", "carol"])).await;
    refused(&out, 2, &["--reason <REASON>", "required"]);
    let out = payctl(&system, &resolve(&["--action", "accept", "--reason", "", "--by", "carol"])).await;
    refused(&out, 1, &["reason: must say why, in words"]);
    let out = payctl(&system, &resolve(&["--action", "accept", "--reason", "   ", "--by", "carol"])).await;
    refused(&out, 1, &["reason: must say why, in words"]);
    let out = payctl(&system, &resolve(&["--action", "accept", "--reason", "why", "--by", " "])).await;
    refused(&out, 1, &["by: must name who decided"]);
    let out = payctl(&system, &resolve(&["--action", "ignore", "--reason", "why", "--by", "carol"])).await;
    refused(&out, 2, &["'ignore'", "--action <ACTION>", "possible values", "accept", "write_off"]);
    let out = payctl(&system, &resolve(&["--reason", "why", "--by", "carol"])).await;
    refused(&out, 2, &["--action <ACTION>", "required"]);
    assert!(audit(&id).await.is_empty(), "a refused resolution leaves no trace");

    // An unknown discrepancy, for a settling action and for a requery.
    for action in ["accept", "requery"] {
        let out = payctl(
            &system,
            &["recon", "resolve", "424242", "--action", action, "--reason", "why", "--by", "carol"],
        )
        .await;
        refused(&out, 1, &["id: no discrepancy 424242"]);
    }

    // A requery needs an order of ours to ask the provider about.
    let out = payctl(
        &system,
        &["recon", "resolve", &forged, "--action", "requery", "--reason", "why", "--by", "carol"],
    )
    .await;
    let none =
        format!("action: requery asks the provider about an order of ours; discrepancy {forged} has none");
    refused(&out, 1, &[none.as_str()]);
    assert!(audit(&forged).await.is_empty());

    // Settled once; the second time is refused, and the first resolution stands.
    ok(payctl(&system, &resolve(&["--action", "accept", "--reason", "explained", "--by", "carol"])).await);
    let out =
        payctl(&system, &resolve(&["--action", "write_off", "--reason", "again", "--by", "dave"])).await;
    let already = format!("id: discrepancy {id} is already resolved (by carol at ");
    refused(&out, 1, &[already.as_str(), "a settled discrepancy is not changed"]);
    let out = payctl(&system, &resolve(&["--action", "requery", "--reason", "again", "--by", "dave"])).await;
    refused(&out, 1, &[already.as_str()]);
    let trail = audit(&id).await;
    assert_eq!(trail.len(), 1, "{trail:#?}");
    assert_eq!((trail[0].actor.as_str(), trail[0].reason.as_str()), ("carol", "explained"));
    system.stop().await;
}

/// A timestamp as payctl prints it.
fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// `s` without whitespace (a table may wrap a cell anywhere).
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recon_run_sweep_asks_the_provider_instead_of_reading_its_bill() {
    let system = System::with(patient()).await;
    // The bill's faults do not touch a sweep: it reads no bill.
    let (fee, dropped) = a_day_with_three_discrepancies(&system).await;
    // What the sweep can see: the provider has no trade for a payment we hold as paid.
    let admin = system.mockpay.admin();
    admin.script_fault(&trade_no(dropped), Operation::Query, Fault::NotFound, 1).await.unwrap();
    let day = today().to_string();

    let swept = json(&ok(payctl(&system, &["recon", "run", "mockpay", &day, "--sweep", "--json"]).await));
    assert_eq!(swept["batch"]["kind"], "sweep");
    assert_eq!(swept["batch"]["state"], "discrepancies");
    assert_eq!(swept["batch"]["counts"]["lines"], 3, "one line per payment of ours: {swept}");
    let found = swept["discrepancies"].as_array().expect("discrepancies");
    assert_eq!(found.len(), 1, "{swept}");
    assert_eq!(found[0]["kind"], "status_mismatch");
    assert_eq!(found[0]["payment_id"], dropped.to_string());
    assert!(found.iter().all(|d| d["payment_id"] != fee.to_string()), "a query states no fee to check");

    let out = payctl(&system, &["recon", "run", "mockpay", &day, "--sweep", "--settlement"]).await;
    refused(&out, 2, &["--settlement", "--sweep"]);
    system.stop().await;
}
