//! Database errors the application handles on purpose: violations of a named constraint.
//!
//! A unique violation on an idempotency key means "this command was seen before"; a check
//! violation on a money constraint means "refused". Callers match on the constraint's name (see
//! [`super::constraints`]) instead of parsing messages. Everything else stays a plain
//! [`sqlx::Error`].

use std::fmt;

/// Which kind of integrity rule was violated, from the SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// 23505: a unique constraint or unique index (the name is the index's).
    Unique,
    /// 23503.
    ForeignKey,
    /// 23514.
    Check,
    /// 23502. PostgreSQL names no constraint for these, so they are rarely seen here.
    NotNull,
    /// 23P01.
    Exclusion,
    /// 23001: raised by the schema's append-only triggers (`<table>_append_only`).
    Restrict,
}

impl ConstraintKind {
    fn from_sqlstate(code: &str) -> Option<Self> {
        Some(match code {
            "23505" => Self::Unique,
            "23503" => Self::ForeignKey,
            "23514" => Self::Check,
            "23502" => Self::NotNull,
            "23P01" => Self::Exclusion,
            "23001" => Self::Restrict,
            _ => return None,
        })
    }
}

/// A violated, named integrity constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintViolation {
    pub kind: ConstraintKind,
    /// The constraint's (or unique index's) name, e.g. `payments_merchant_order_unique`.
    pub constraint: String,
    /// The table, when the server reported it.
    pub table: Option<String>,
    /// The server's message, for logs.
    pub message: String,
}

impl ConstraintViolation {
    /// The violation in `err`, if it is one and the server named the constraint.
    pub fn from_sqlx(err: &sqlx::Error) -> Option<Self> {
        let db = err.as_database_error()?;
        let kind = ConstraintKind::from_sqlstate(&db.code()?)?;
        Some(Self {
            kind,
            constraint: db.constraint()?.to_owned(),
            table: db.table().map(str::to_owned),
            message: db.message().to_owned(),
        })
    }
}

impl fmt::Display for ConstraintViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "constraint {} violated: {}", self.constraint, self.message)
    }
}

impl std::error::Error for ConstraintViolation {}

/// The named-constraint violation in `err`, if any; see [`ConstraintViolation::from_sqlx`].
pub fn constraint_violation(err: &sqlx::Error) -> Option<ConstraintViolation> {
    ConstraintViolation::from_sqlx(err)
}

/// Whether `err` is a unique violation of exactly `constraint` (a unique constraint or index name).
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    is_violation(err, ConstraintKind::Unique, constraint)
}

/// Whether `err` is a violation of `kind` on exactly `constraint`.
pub fn is_violation(err: &sqlx::Error, kind: ConstraintKind, constraint: &str) -> bool {
    err.as_database_error().is_some_and(|db| {
        db.code().as_deref().and_then(ConstraintKind::from_sqlstate) == Some(kind)
            && db.constraint() == Some(constraint)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_from_outside_the_database_are_not_violations() {
        let err = sqlx::Error::RowNotFound;
        assert_eq!(constraint_violation(&err), None);
        assert!(!is_unique_violation(&err, "anything"));
    }

    #[test]
    fn sqlstates_map_to_kinds() {
        assert_eq!(ConstraintKind::from_sqlstate("23505"), Some(ConstraintKind::Unique));
        assert_eq!(ConstraintKind::from_sqlstate("23001"), Some(ConstraintKind::Restrict));
        assert_eq!(ConstraintKind::from_sqlstate("40001"), None);
    }
}
