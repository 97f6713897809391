//! The notify-handler binary as an operator runs it: help, configuration errors, unreachable servers,
//! `migrate`, start-up against real servers, and a clean stop on SIGTERM
//! (the checks are in paygate_test_support::service_checks).

paygate_test_support::service_binary_tests!(env!("CARGO_BIN_EXE_notify-handler"));

/// This service builds the providers named in `PROVIDERS`: a misconfigured one stops it at start.
#[tokio::test]
async fn a_misconfigured_provider_stops_the_service_naming_it() {
    paygate_test_support::service_checks::a_misconfigured_provider_stops_the_service_naming_it(env!(
        "CARGO_BIN_EXE_notify-handler"
    ))
    .await;
}

/// The return's limits are configured like the service's other settings.
#[tokio::test]
async fn the_return_limits_are_documented_and_checked() {
    use paygate_test_support::run_to_exit;
    use std::time::Duration;
    let bin = env!("CARGO_BIN_EXE_notify-handler");
    let help = run_to_exit(bin, &["--help"], &[], Duration::from_secs(30)).await;
    for var in ["RETURN_RATE_PER_MINUTE", "RETURN_QUERY_INTERVAL"] {
        assert!(help.stdout.contains(var), "--help does not mention {var}:\n{}", help.stdout);
    }
    for (var, value, form) in [
        ("RETURN_RATE_PER_MINUTE", "0", "from 1 to 100000"),
        ("RETURN_QUERY_INTERVAL", "500ms", "from 1s to 1h"),
    ] {
        let out = run_to_exit(bin, &[], &[(var, value)], Duration::from_secs(30)).await;
        assert_ne!(out.code, Some(0), "{var}={value} must be rejected");
        assert!(out.stderr.contains(var) && out.stderr.contains(form), "{var}={value}:\n{}", out.stderr);
    }
}
