//! The compensation-scheduler binary as an operator runs it: help, configuration errors, unreachable servers,
//! `migrate`, start-up against real servers, and a clean stop on SIGTERM
//! (the checks are in paygate_test_support::service_checks).

paygate_test_support::service_binary_tests!(env!("CARGO_BIN_EXE_compensation-scheduler"));

/// This service builds the providers named in `PROVIDERS`: a misconfigured one stops it at start.
#[tokio::test]
async fn a_misconfigured_provider_stops_the_service_naming_it() {
    paygate_test_support::service_checks::a_misconfigured_provider_stops_the_service_naming_it(env!(
        "CARGO_BIN_EXE_compensation-scheduler"
    ))
    .await;
}

/// The sweep of undecided notifications is configured like the scheduler's other settings.
#[tokio::test]
async fn the_undecided_notification_sweep_is_documented_and_checked() {
    use paygate_test_support::run_to_exit;
    use std::time::Duration;
    let bin = env!("CARGO_BIN_EXE_compensation-scheduler");
    let help = run_to_exit(bin, &["--help"], &[], Duration::from_secs(30)).await;
    for var in ["UNDECIDED_NOTIFICATION_AGE", "UNDECIDED_NOTIFICATION_INTERVAL"] {
        assert!(help.stdout.contains(var), "--help does not mention {var}:\n{}", help.stdout);
    }
    for (var, value, form) in [
        ("UNDECIDED_NOTIFICATION_AGE", "0s", "from 1s to 1d"),
        ("UNDECIDED_NOTIFICATION_INTERVAL", "2h", "from 100ms to 1h"),
    ] {
        let out = run_to_exit(bin, &[], &[(var, value)], Duration::from_secs(30)).await;
        assert_ne!(out.code, Some(0), "{var}={value} must be rejected");
        assert!(out.stderr.contains(var) && out.stderr.contains(form), "{var}={value}:\n{}", out.stderr);
    }
}

/// The merchant callbacks' settings are listed by --help, and a bad value stops the service
/// naming the variable and the form it takes.
#[tokio::test]
async fn the_callback_settings_are_documented_and_checked() {
    use paygate_test_support::run_to_exit;
    use std::time::Duration;
    let bin = env!("CARGO_BIN_EXE_compensation-scheduler");
    let help = run_to_exit(bin, &["--help"], &[], Duration::from_secs(30)).await;
    for var in [
        "CALLBACK_SCHEDULE",
        "CALLBACK_TIMEOUT",
        "CALLBACK_POLL_INTERVAL",
        "CALLBACK_CONCURRENCY",
        "CALLBACK_RETENTION",
    ] {
        assert!(help.stdout.contains(var), "--help does not mention {var}:\n{}", help.stdout);
    }
    for (var, value, form) in [
        ("CALLBACK_SCHEDULE", "15s,soon", "comma-separated waits with a unit"),
        ("CALLBACK_SCHEDULE", "10ms", "from 100ms to 7d"),
        ("CALLBACK_TIMEOUT", "5m", "from 1s to 1m"),
        ("CALLBACK_POLL_INTERVAL", "0s", "from 100ms to 1m"),
        ("CALLBACK_CONCURRENCY", "0", "1..=1024"),
        ("CALLBACK_RETENTION", "1h", "from 1d to 3650d"),
    ] {
        let out = run_to_exit(bin, &[], &[(var, value)], Duration::from_secs(30)).await;
        assert_ne!(out.code, Some(0), "{var}={value} must be rejected");
        assert!(out.stderr.contains(var) && out.stderr.contains(form), "{var}={value}:\n{}", out.stderr);
    }
}
