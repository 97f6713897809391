//! mockpay integration tests.
