//! The ingest binary as an operator runs it: help, configuration errors, unreachable servers,
//! `migrate`, start-up against real servers, and a clean stop on SIGTERM
//! (the checks are in paygate_test_support::service_checks).

paygate_test_support::service_binary_tests!(env!("CARGO_BIN_EXE_ingest"));
