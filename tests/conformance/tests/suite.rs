//! Every scenario of `conformance::scenarios` for every provider: one test per scenario and
//! provider (`<provider>::<scenario>`). A scenario a provider cannot do is ignored with the
//! reason ("not applicable: …"); a case held back by a known defect is ignored with the defect.
//! `<provider>::matrix_is_complete_and_honest` checks that every scenario is listed once per
//! provider and that the not-applicable ones are exactly what the provider's capabilities say.
//!
//! `nice -n 19 cargo test -p paygate-conformance` (add `-- --include-ignored` to see the
//! not-applicable ones fail with their reason).

conformance::provider_tests! {
    scenarios;
    mockpay: conformance::mockpay::Mockpay,
    run: [
        pay_qr, pay_redirect, pay_form, pay_client_secret, pay_direct,
        same_pay_twice_charges_once,
        decline_is_a_definitive_refusal,
        timeout_is_unknown_and_query_agrees_with_the_books,
        lost_response_is_unknown_and_query_finds_the_charge,
        partial_then_full_refund_never_above_captured,
        twenty_concurrent_refunds_never_exceed_captured,
        forged_tampered_oversized_notifications_are_refused,
        bill_agrees_with_the_books_and_shows_planted_discrepancies,
        bill_download_matches_capability,
        settlement_agrees_with_the_books_and_shows_planted_discrepancies,
        settlement_download_matches_capability,
        authorise_then_capture_part_once,
        a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it,
        authorise_then_void_idempotently,
    ],
    not_applicable: [
        pay_barcode = "not applicable: mockpay has no payment-code (barcode) flow; its direct is a one-time key charged at once",
    ],
    defects: [],
}

conformance::provider_tests! {
    scenarios;
    alipay: conformance::alipay::Alipay,
    run: [
        pay_qr, pay_redirect, pay_form, pay_barcode,
        same_pay_twice_charges_once,
        decline_is_a_definitive_refusal,
        timeout_is_unknown_and_query_agrees_with_the_books,
        lost_response_is_unknown_and_query_finds_the_charge,
        partial_then_full_refund_never_above_captured,
        twenty_concurrent_refunds_never_exceed_captured,
        forged_tampered_oversized_notifications_are_refused,
        bill_agrees_with_the_books_and_shows_planted_discrepancies,
        bill_download_matches_capability,
        settlement_download_matches_capability,
    ],
    not_applicable: [
        authorise_then_capture_part_once = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
        a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
        authorise_then_void_idempotently = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
        settlement_agrees_with_the_books_and_shows_planted_discrepancies = "not applicable: Alipay's settlement (the signcustomer account bill) is not implemented: its file format is not confirmed (docs/providers/alipay.md)",
        pay_client_secret = "not applicable: Alipay app pay (client_secret) is not supported by the adapter",
        pay_direct = "not applicable: Alipay charges only through the payment code the customer shows (barcode)",
    ],
    defects: [],
}

conformance::provider_tests! {
    scenarios;
    wechatpay: conformance::wechatpay::Wechatpay,
    run: [
        pay_qr, pay_redirect, pay_client_secret,
        same_pay_twice_charges_once,
        decline_is_a_definitive_refusal,
        timeout_is_unknown_and_query_agrees_with_the_books,
        lost_response_is_unknown_and_query_finds_the_charge,
        partial_then_full_refund_never_above_captured,
        twenty_concurrent_refunds_never_exceed_captured,
        forged_tampered_oversized_notifications_are_refused,
        bill_agrees_with_the_books_and_shows_planted_discrepancies,
        bill_download_matches_capability,
        settlement_agrees_with_the_books_and_shows_planted_discrepancies,
        settlement_download_matches_capability,
    ],
    not_applicable: [
        authorise_then_capture_part_once = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
        a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
        authorise_then_void_idempotently = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
        pay_form = "not applicable: WeChat Pay has no form payment (Native, JSAPI and H5 only)",
        pay_direct = "not applicable: WeChat Pay API v3 charges only after the customer pays (no direct charge)",
        pay_barcode = "not applicable: WeChat Pay's payment-code (micropay) flow is not in API v3 and not in the adapter",
    ],
    defects: [],
}

conformance::provider_tests! {
    scenarios;
    stripe: conformance::stripe::Stripe,
    run: [
        pay_client_secret,
        same_pay_twice_charges_once,
        decline_is_a_definitive_refusal,
        timeout_is_unknown_and_query_agrees_with_the_books,
        lost_response_is_unknown_and_query_finds_the_charge,
        partial_then_full_refund_never_above_captured,
        twenty_concurrent_refunds_never_exceed_captured,
        forged_tampered_oversized_notifications_are_refused,
        bill_download_matches_capability,
        settlement_agrees_with_the_books_and_shows_planted_discrepancies,
        settlement_download_matches_capability,
        authorise_then_capture_part_once,
        a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it,
        authorise_then_void_idempotently,
    ],
    not_applicable: [
        pay_qr = "not applicable: Stripe's PaymentIntents are confirmed by the client with the client secret (no QR flow in the adapter)",
        pay_redirect = "not applicable: Stripe's redirect is only 3-D Secure's next_action of a client-secret payment (Checkout is not in the adapter)",
        pay_form = "not applicable: Stripe has no form payment",
        pay_direct = "not applicable: the adapter never confirms a PaymentIntent itself (no saved payment methods)",
        pay_barcode = "not applicable: Stripe has no payment-code (barcode) flow",
        bill_agrees_with_the_books_and_shows_planted_discrepancies = "not applicable: Stripe has no trade bill",
    ],
    defects: [],
}

conformance::provider_tests! {
    scenarios;
    linepay: conformance::linepay::LinePay,
    run: [
        pay_redirect,
        pay_barcode,
        same_pay_twice_charges_once,
        decline_is_a_definitive_refusal,
        timeout_is_unknown_and_query_agrees_with_the_books,
        partial_then_full_refund_never_above_captured,
        twenty_concurrent_refunds_never_exceed_captured,
        bill_download_matches_capability,
        settlement_download_matches_capability,
        authorise_then_capture_part_once,
        a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it,
        authorise_then_void_idempotently,
    ],
    not_applicable: [
        pay_qr = "not applicable: LINE Pay's Online API v3 pays by redirect to its payment URL (no QR flow in the adapter)",
        pay_form = "not applicable: LINE Pay has no form payment",
        pay_client_secret = "not applicable: LINE Pay has no client-side confirmation with a secret",
        pay_direct = "not applicable: LINE Pay charges only after the customer approves at its payment URL (the POS one-time-key flow is not in the adapter)",
        forged_tampered_oversized_notifications_are_refused = "not applicable: LINE Pay sends no notifications (no webhook)",
        bill_agrees_with_the_books_and_shows_planted_discrepancies = "not applicable: LINE Pay has no bill API",
        settlement_agrees_with_the_books_and_shows_planted_discrepancies = "not applicable: LINE Pay has no settlement API",
    ],
    defects: [
        lost_response_is_unknown_and_query_finds_the_charge = "LINE Pay cannot be asked about a request whose answer was lost: its payment details list confirmed payments only and check needs the lost transactionId, so the query says not found (nothing can be charged without our confirm; the dispatcher closes the payment after the not-found delay), where the scenario expects the request found waiting (docs/providers/linepay.md)",
    ],
}

conformance::provider_tests! {
    scenarios;
    linepay_pos: conformance::linepay::LinePayPos,
    run: [
        pay_barcode,
        same_pay_twice_charges_once,
        decline_is_a_definitive_refusal,
        timeout_is_unknown_and_query_agrees_with_the_books,
        lost_response_is_unknown_and_query_finds_the_charge,
        partial_then_full_refund_never_above_captured,
        twenty_concurrent_refunds_never_exceed_captured,
        bill_download_matches_capability,
        settlement_download_matches_capability,
        authorise_then_capture_part_once,
        a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it,
        authorise_then_void_idempotently,
    ],
    not_applicable: [
        pay_qr = "not applicable: a LINE Pay till takes the customer's one-time key (the online flows are the linepay block's)",
        pay_redirect = "not applicable: a LINE Pay till takes the customer's one-time key (redirect is the linepay block's)",
        pay_form = "not applicable: LINE Pay has no form payment",
        pay_client_secret = "not applicable: LINE Pay has no client-side confirmation with a secret",
        pay_direct = "not applicable: LINE Pay has no direct charge",
        forged_tampered_oversized_notifications_are_refused = "not applicable: LINE Pay sends no notifications (no webhook)",
        bill_agrees_with_the_books_and_shows_planted_discrepancies = "not applicable: LINE Pay has no bill API",
        settlement_agrees_with_the_books_and_shows_planted_discrepancies = "not applicable: LINE Pay has no settlement API",
    ],
    defects: [],
}
