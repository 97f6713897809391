//! The mockpay binary: --help documents the flags and variables; it serves on the given address.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn help_documents_flags_and_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_mockpay")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--addr",
        "MOCKPAY_ADDR",
        "--merchant",
        "MOCKPAY_SECRETS",
        "--config",
        "--fault",
        "MOCKPAY_FAULTS",
        "--seed",
        "--refund-delay-ms",
        "--notify-retry-ms",
        "--auto-pay-after-ms",
        "--timeout-hold-ms",
        "/admin/script",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[tokio::test]
async fn the_binary_serves_the_signed_api() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mockpay"))
        .args(["--addr", "127.0.0.1:0", "--merchant", "mb=sb", "--fault", "decline=0", "--log", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let base = line.trim().strip_prefix("mockpay listening on ").expect("announces its address").to_owned();
    let client = mockpay::testkit::SignedClient::new(&base, "mb", "sb");
    let answer = client.get("/v1/payments/x").await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(answer.unwrap().code(), "1150");
}
