//! What a transition did to a payment or a refund: moved it (the history has the row), or
//! nothing, because its state already reflects the event.

/// What a transition did, in the states `S` of the payment or refund machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied<S> {
    /// The order moved; the history has the row for `version`.
    Moved { from: S, to: S, version: i64 },
    /// The state already reflects the event (a repeat): nothing was written.
    AlreadyApplied,
}

impl<S> Applied<S> {
    /// Whether anything changed.
    pub fn moved(&self) -> bool {
        matches!(self, Applied::Moved { .. })
    }
}
