//! Every code the HTTP API answers with, and what it means: one table, as data. A response's
//! `code` is one of these names; its HTTP status is the row's. docs/http-api.md lists them (a
//! test checks that it lists every one).

use axum::http::StatusCode;

/// One code of the API's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiCode {
    /// The `code` field of the answer.
    pub name: &'static str,
    /// The HTTP status it is answered with.
    pub status: u16,
    /// What it means for the caller.
    pub meaning: &'static str,
}

impl ApiCode {
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

pub const OK: ApiCode =
    ApiCode { name: "ok", status: 200, meaning: "done; `data` is the resource as it is now" };
pub const CREATED: ApiCode = ApiCode {
    name: "created",
    status: 201,
    meaning: "the payment is created and the provider has answered: `data.action` is what the customer must do (or `data.state` is final)",
};
pub const ACCEPTED: ApiCode = ApiCode {
    name: "accepted",
    status: 202,
    meaning: "pre-committed: paygate has it and will carry it out; poll `data.poll_url` for its state",
};
pub const MALFORMED: ApiCode =
    ApiCode { name: "malformed_request", status: 400, meaning: "the body is not a JSON object" };
pub const UNAUTHENTICATED: ApiCode = ApiCode {
    name: "unauthenticated",
    status: 401,
    meaning: "the request's signature headers are missing, wrong, too old, replayed, or name an unknown or revoked key",
};
pub const NOT_FOUND: ApiCode = ApiCode {
    name: "not_found",
    status: 404,
    meaning: "no such payment, refund or reconciled day for the key's merchant (another merchant's are not found either)",
};
pub const METHOD_NOT_ALLOWED: ApiCode = ApiCode {
    name: "method_not_allowed",
    status: 405,
    meaning: "the path exists but not with this method (/openapi.json lists each path's methods)",
};
pub const IDEMPOTENCY_CONFLICT: ApiCode = ApiCode {
    name: "idempotency_conflict",
    status: 409,
    meaning: "the merchant's order or refund number, or the Idempotency-Key, was used before with other parameters",
};
pub const WRONG_STATE: ApiCode = ApiCode {
    name: "wrong_state",
    status: 409,
    meaning: "the order exists but its state does not allow this now",
};
pub const INVALID_FIELD: ApiCode = ApiCode {
    name: "invalid_field",
    status: 422,
    meaning: "a field breaks a rule; `field` and `rule` say which",
};
pub const RATE_LIMITED: ApiCode = ApiCode {
    name: "rate_limited",
    status: 429,
    meaning: "the key sent more requests than its rate allows; retry after `Retry-After` seconds",
};
pub const INTERNAL: ApiCode = ApiCode {
    name: "internal_error",
    status: 500,
    meaning: "paygate failed (its database was unreachable); nothing was committed, the same request may be sent again",
};

/// Every code, in the order docs/http-api.md lists them.
pub const ALL: [ApiCode; 12] = [
    OK,
    CREATED,
    ACCEPTED,
    MALFORMED,
    UNAUTHENTICATED,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    IDEMPOTENCY_CONFLICT,
    WRONG_STATE,
    INVALID_FIELD,
    RATE_LIMITED,
    INTERNAL,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_statuses_valid() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(StatusCode::from_u16(a.status).is_ok(), "{a:?}");
            assert!(ALL[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
        }
    }

    #[test]
    fn the_docs_list_every_code() {
        let doc = include_str!("../../../../docs/http-api.md");
        for code in ALL {
            let row = format!("| `{}` | {} |", code.name, code.status);
            assert!(doc.contains(&row), "docs/http-api.md lacks the row starting {row:?}");
        }
    }
}
