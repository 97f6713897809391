//! An operator's identity: who requested a refund, who approved or rejected it.
//!
//! Four eyes compares identities, so an identity has one spelling. [`OperatorId::parse`]
//! normalises before it checks: surrounding whitespace is trimmed and ASCII letters are
//! lowercased, so `"Alice"`, `" alice "` and `"alice"` are the same person. What remains must be
//! 1 to 64 characters of `a-z 0-9 . _ - @` (a login or an e-mail address); anything else (inner
//! whitespace, non-ASCII letters that could imitate another identity, control characters) is
//! refused rather than guessed at. The database holds only normalised identities
//! (migrations/0017_operator_identities.sql), and compares them again on its own.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// A normalised operator identity. Compare two with `==`; compare one with a stored string with
/// [`OperatorId::same_person`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OperatorId(String);

impl OperatorId {
    /// The field name errors are reported against (use [`ValidationError::with_field`] for
    /// `requested_by`, `approver`).
    pub const FIELD: &'static str = "operator";
    /// The most characters allowed, after trimming.
    pub const MAX_LEN: usize = 64;
    const RULE: &'static str = "must be an operator identity: 1 to 64 characters of a-z 0-9 . _ - @ \
                                (case and surrounding spaces are ignored)";

    /// Parses an identity: trims, lowercases ASCII, then checks length and characters.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let error = |got: String| ValidationError::new(Self::FIELD, format!("{} (got {got})", Self::RULE));
        let normalised = input.trim().to_ascii_lowercase();
        let length = normalised.chars().count();
        if length == 0 {
            return Err(error(if input.is_empty() {
                "an empty string".into()
            } else {
                "only spaces".into()
            }));
        }
        if length > Self::MAX_LEN {
            return Err(error(format!("{length} characters")));
        }
        if let Some((index, c)) = normalised.chars().enumerate().find(|&(_, c)| !allowed(c)) {
            let c = if c == ' ' { "a space".to_owned() } else { format!("{c:?}") };
            return Err(error(format!("{c} at position {}", index + 1)));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `stored` (a stored or received identity, in any spelling) names this operator.
    /// Fails closed: an identity that does not parse cannot be told apart, so it counts as the
    /// same person.
    pub fn same_person(&self, stored: &str) -> bool {
        OperatorId::parse(stored).map_or(true, |other| other == *self)
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for OperatorId {
    type Error = ValidationError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<OperatorId> for String {
    fn from(id: OperatorId) -> Self {
        id.0
    }
}

impl AsRef<str> for OperatorId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_surrounding_spaces_name_the_same_operator() {
        let alice = OperatorId::parse("alice").expect("valid");
        for spelling in ["Alice", "alice ", " ALICE", "\talice\n"] {
            assert_eq!(OperatorId::parse(spelling).expect(spelling), alice, "{spelling:?}");
            assert!(alice.same_person(spelling), "{spelling:?}");
        }
        assert!(!alice.same_person("bob"));
        assert!(alice.same_person("al ice"), "unparseable: fails closed");
        assert_eq!(
            OperatorId::parse("Ops.Lead@Example.com").expect("e-mail").as_str(),
            "ops.lead@example.com"
        );
    }

    #[test]
    fn errors_name_the_field_and_the_rule() {
        let rule = "must be an operator identity: 1 to 64 characters of a-z 0-9 . _ - @ (case and \
                    surrounding spaces are ignored)";
        let cases = [
            ("", "an empty string".to_owned()),
            ("   ", "only spaces".to_owned()),
            (&"a".repeat(65) as &str, "65 characters".to_owned()),
            ("al ice", "a space at position 3".to_owned()),
            ("alíce", "'í' at position 3".to_owned()),
            ("аlice", "'а' at position 1".to_owned()), // Cyrillic а
            ("alice\u{200b}", "'\\u{200b}' at position 6".to_owned()),
        ];
        for (input, got) in cases {
            let err = OperatorId::parse(input).map_err(|e| e.with_field("approver")).expect_err(input);
            assert_eq!(err.to_string(), format!("approver: {rule} (got {got})"), "{input:?}");
        }
    }

    #[test]
    fn serde_parses_and_normalises() {
        let id: OperatorId = serde_json::from_str(r#"" Bob ""#).expect("parses");
        assert_eq!(serde_json::to_string(&id).expect("serialises"), r#""bob""#);
        assert!(serde_json::from_str::<OperatorId>(r#""b o b""#).is_err());
    }
}
