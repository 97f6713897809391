//! The payment and refund state machines.
