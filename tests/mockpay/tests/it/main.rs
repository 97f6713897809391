//! mockpay's integration tests: one test binary, one module per concern.

mod admin;
mod bills;
mod binary;
mod notifications;
mod payments;
mod refunds;
mod signing;
mod support;
mod transport_faults;
