//! The validation error: which field is wrong and which rule it breaks, in words a user
//! understands. Every domain parser returns it, and command validation reuses it.
//!
//! Its Display is `<field>: <rule>`, e.g.
//! `amount: CNY allows at most 2 decimal places (got 3)`. A rule says what is required and ends
//! with what was received, `(got …)`; input is quoted with escapes and cut at 40 characters, so an
//! error never carries a whole hostile payload into a log.

use std::borrow::Cow;

use serde::Serialize;

/// A field that breaks a rule. Serialises as `{"field": "...", "rule": "..."}` for API answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    field: Cow<'static, str>,
    rule: String,
}

impl ValidationError {
    /// `field` is the name the client used (`merchant_order_no`, `refunds[2].amount`); `rule` says
    /// what is required and what was received.
    pub fn new(field: impl Into<Cow<'static, str>>, rule: impl Into<String>) -> Self {
        Self { field: field.into(), rule: rule.into() }
    }

    /// The same rule, reported against another field: for a type used in several fields, e.g.
    /// `MerchantOrderNo::parse(s).map_err(|e| e.with_field("original_order_no"))`.
    #[must_use]
    pub fn with_field(self, field: impl Into<Cow<'static, str>>) -> Self {
        Self { field: field.into(), ..self }
    }

    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn rule(&self) -> &str {
        &self.rule
    }
}

/// How many characters of a client's input an error message repeats.
const QUOTE_LIMIT: usize = 40;

/// Input as an error message shows it: quoted, with control characters and quotes escaped, and
/// cut at 40 characters (then followed by its length).
pub(crate) fn quote(input: &str) -> String {
    let count = input.chars().count();
    if count <= QUOTE_LIMIT {
        format!("{input:?}")
    } else {
        let head: String = input.chars().take(QUOTE_LIMIT).collect();
        format!("{head:?}… ({count} characters)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_field_colon_rule() {
        let e = ValidationError::new("amount", "must not be empty");
        assert_eq!(e.to_string(), "amount: must not be empty");
        assert_eq!(e.field(), "amount");
        assert_eq!(e.rule(), "must not be empty");
    }

    #[test]
    fn with_field_keeps_the_rule() {
        let e = ValidationError::new("refund_no", "must not be empty").with_field(format!("refunds[{}]", 2));
        assert_eq!(e.to_string(), "refunds[2]: must not be empty");
    }

    #[test]
    fn serialises_as_field_and_rule() {
        let e = ValidationError::new("currency", "must be 3 uppercase letters");
        assert_eq!(
            serde_json::to_string(&e).expect("serialises"),
            r#"{"field":"currency","rule":"must be 3 uppercase letters"}"#
        );
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("abc"), r#""abc""#);
        assert_eq!(quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(quote(""), r#""""#);
        let long = "x".repeat(41);
        assert_eq!(quote(&long), format!("\"{}\"… (41 characters)", "x".repeat(40)));
    }
}
