//! Flow logic: what the provider does with each request, on the domain types. Handlers convert
//! wire requests into calls here and the outcomes back into wire answers.

pub(crate) mod payments;
pub(crate) mod refunds;

use crate::codes::ReturnCode;

/// The result of a flow step: a return code, an optional message and, when there is one, the
/// thing the answer describes (also for some non-success codes, e.g. a decline).
#[derive(Debug)]
pub(crate) struct Outcome<T> {
    pub code: ReturnCode,
    pub message: Option<String>,
    pub value: Option<T>,
}

impl<T> Outcome<T> {
    pub fn ok(value: T) -> Self {
        Outcome { code: ReturnCode::Success, message: None, value: Some(value) }
    }

    pub fn fail(code: ReturnCode, message: impl Into<String>) -> Self {
        Outcome { code, message: Some(message.into()), value: None }
    }

    pub fn with_code(code: ReturnCode, value: T) -> Self {
        Outcome { code, message: None, value: Some(value) }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        Outcome { code: self.code, message: self.message, value: self.value.map(f) }
    }
}
