//! When a payment's money is taken: at once when the customer pays (`automatic`, the default), or
//! later, by a `capture` command (`manual`): the provider then only authorises the payment, holds
//! the customer's money, and takes it (all or part) when we capture, or releases it when we void
//! or its authorisation expires. A pay command names it (`capture`), the payment stores it
//! (`payments.capture_mode`), and the adapter asks its provider for it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// When the money is taken. Serialises as its name, `"manual"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Taken when the customer pays.
    #[default]
    Automatic,
    /// Authorised when the customer pays; taken by a `capture` command.
    Manual,
}

impl CaptureMode {
    /// The field name errors are reported against (the pay command's).
    pub const FIELD: &'static str = "capture";

    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMode::Automatic => "automatic",
            CaptureMode::Manual => "manual",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        match input {
            "automatic" => Ok(CaptureMode::Automatic),
            "manual" => Ok(CaptureMode::Manual),
            other => Err(ValidationError::new(
                Self::FIELD,
                format!("must be one of automatic, manual (got {other:?})"),
            )),
        }
    }

    pub fn is_manual(self) -> bool {
        self == CaptureMode::Manual
    }
}

impl fmt::Display for CaptureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for mode in [CaptureMode::Automatic, CaptureMode::Manual] {
            assert_eq!(CaptureMode::parse(mode.as_str()), Ok(mode));
        }
        assert_eq!(
            CaptureMode::parse("later").map_err(|e| e.to_string()),
            Err("capture: must be one of automatic, manual (got \"later\")".to_owned())
        );
        assert_eq!(CaptureMode::default(), CaptureMode::Automatic);
    }
}
