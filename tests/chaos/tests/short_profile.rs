//! The chaos run's short profile, as CI runs it (docs/reliability.md): 1,000 payments and 300
//! refunds through every fault at once, on private PostgreSQL and RabbitMQ. The run itself
//! exits non-zero on any broken promise; this test also holds its report to the figures that
//! show the faults really happened, so a run that injected nothing cannot pass.

use paygate_test_support::{PrivatePostgres, RabbitCluster, run_to_exit};
use std::time::Duration;

fn figure(report: &str, after: &str) -> u64 {
    let at = report.find(after).unwrap_or_else(|| panic!("the report has no {after:?}:\n{report}"));
    let digits: String = report[at + after.len()..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after {after:?}:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_payments_through_every_fault_lose_nothing_and_charge_nothing_twice() {
    if !(RabbitCluster::available() && PrivatePostgres::available()) {
        assert!(std::env::var_os("CI").is_none(), "CI must run this: install rabbitmq-server and postgresql");
        eprintln!("SKIPPED: Debian's rabbitmq-server or PostgreSQL server is not installed");
        return;
    }
    let run = run_to_exit(
        env!("CARGO_BIN_EXE_paygate-chaos"),
        &["--payments", "1000", "--refunds", "300", "--rate", "25", "--seed", "17"],
        &[],
        Duration::from_secs(900),
    )
    .await;
    let report = run.stdout;
    assert_eq!(run.code, Some(0), "the chaos run found violations:\n{report}\n{}", run.stderr);
    assert!(report.contains("violations: 0"), "{report}");
    // The faults and the havoc happened.
    assert!(figure(&report, "SIGKILLs ") >= 3, "a kill every 5 s while the load runs:\n{report}");
    assert!(report.contains("rabbitmq restarted at"), "{report}");
    assert!(report.contains("postgresql restarted at"), "{report}");
    assert!(figure(&report, "\"timeout\": ") > 0, "{report}");
    assert!(figure(&report, "\"lost_response\": ") > 0, "{report}");
    assert!(figure(&report, "(lost ") > 0, "lost notifications:\n{report}");
    // And the load did: every payment sent, and refunds too.
    assert_eq!(figure(&report, "  pay "), 1000, "{report}");
    assert!(figure(&report, "refund ") >= 200, "{report}");
}
