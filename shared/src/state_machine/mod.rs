//! The payment and refund state machines, and the refundable balance of a payment.
//!
//! Each machine is an explicit transition table, a static slice of `(from, event, to)` rows, and
//! a `transition(state, event)` function that only consults it. A second, smaller table lists the
//! `(state, event)` pairs that are **already applied**: the state already reflects what the event
//! reports (a redelivered notification, a query repeating a known outcome). So an event either
//! moves the entity, or is a harmless repeat ([`TransitionErrorKind::AlreadyApplied`]: acknowledge
//! and do nothing), or contradicts what we know ([`TransitionErrorKind::Rejected`]: change nothing
//! and flag it). Neither error changes anything; the functions are pure.
//!
//! [`status_events`] names the event each status a provider reports makes, one table per machine.
//!
//! State and event names are snake_case strings (`as_str`, `FromStr`, serde); the database's check
//! constraints and history table use exactly these strings.

use std::fmt;

/// An enum of named values, each with the snake_case string stored in the database and sent on
/// the wire: `ALL`, `as_str`, `FromStr`, `Display`, serde as that string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident (field = $field:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::domain::ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    crate::domain::ValidationError::new(
                        $field,
                        format!("must be one of {} (got {})", names.join(", "), crate::domain::quote(s)),
                    )
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = crate::domain::ValidationError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> Self {
                v.as_str()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod capture;
pub mod payment;
pub mod refund;
pub mod refundable;
pub mod status_events;

pub use payment::{PaymentEvent, PaymentState};
pub use refund::{RefundEvent, RefundState};
pub use refundable::{BalanceError, PaymentBalance};

/// Which machine refused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Payment,
    Refund,
}

impl Entity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Entity::Payment => "payment",
            Entity::Refund => "refund",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event did not move the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitionErrorKind {
    /// The state already reflects the event: a repeat. Acknowledge it and do nothing.
    AlreadyApplied,
    /// The event is not allowed in this state: it contradicts what we know. Change nothing, keep
    /// the evidence and flag it for a person.
    Rejected,
}

/// An event that did not move an entity. `from` and `event` are the stored names.
///
/// Display: `payment: event provider_failed is not allowed in state succeeded` (rejected) or
/// `payment: event provider_succeeded is already applied (state succeeded)` (a repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub struct TransitionError {
    pub entity: Entity,
    pub from: &'static str,
    pub event: &'static str,
    pub kind: TransitionErrorKind,
}

impl TransitionError {
    /// Whether this is a harmless repeat rather than a contradiction.
    pub const fn is_already_applied(&self) -> bool {
        matches!(self.kind, TransitionErrorKind::AlreadyApplied)
    }
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TransitionError { entity, from, event, kind } = self;
        match kind {
            TransitionErrorKind::AlreadyApplied => {
                write!(f, "{entity}: event {event} is already applied (state {from})")
            }
            TransitionErrorKind::Rejected => {
                write!(f, "{entity}: event {event} is not allowed in state {from}")
            }
        }
    }
}

/// The one lookup both machines use: a row of `transitions` wins, then `already_applied`, and
/// anything else is rejected.
fn lookup<S: Copy + Eq, E: Copy + Eq>(
    transitions: &[(S, E, S)],
    already_applied: &[(S, E)],
    from: S,
    event: E,
) -> Result<S, TransitionErrorKind> {
    if let Some(&(_, _, to)) = transitions.iter().find(|&&(f, e, _)| f == from && e == event) {
        Ok(to)
    } else if already_applied.contains(&(from, event)) {
        Err(TransitionErrorKind::AlreadyApplied)
    } else {
        Err(TransitionErrorKind::Rejected)
    }
}

/// Checks shared by both machines' tests.
#[cfg(test)]
mod table_checks {
    use std::collections::HashSet;
    use std::fmt::Debug;
    use std::hash::Hash;

    /// No `(from, event)` appears twice in the transitions, or in both tables.
    pub(super) fn unambiguous<S: Copy + Eq + Hash + Debug, E: Copy + Eq + Hash + Debug>(
        transitions: &[(S, E, S)],
        already_applied: &[(S, E)],
    ) {
        let mut seen = HashSet::new();
        for &(from, event, _) in transitions {
            assert!(seen.insert((from, event)), "({from:?}, {event:?}) has two rows");
        }
        for &(state, event) in already_applied {
            assert!(
                seen.insert((state, event)),
                "({state:?}, {event:?}) is both a transition or listed twice"
            );
        }
    }
}
