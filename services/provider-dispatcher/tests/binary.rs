//! The provider-dispatcher binary as an operator runs it: help, configuration errors, unreachable servers,
//! `migrate`, start-up against real servers, and a clean stop on SIGTERM
//! (the checks are in paygate_test_support::service_checks).

paygate_test_support::service_binary_tests!(env!("CARGO_BIN_EXE_provider-dispatcher"));

/// This service builds the providers named in `PROVIDERS`: a misconfigured one stops it at start.
#[tokio::test]
async fn a_misconfigured_provider_stops_the_service_naming_it() {
    paygate_test_support::service_checks::a_misconfigured_provider_stops_the_service_naming_it(env!(
        "CARGO_BIN_EXE_provider-dispatcher"
    ))
    .await;
}
