//! Every scenario of `conformance::journeys` (through the services: ingest, the dispatcher,
//! notify-handler, the scheduler) for every provider: one test per scenario and provider
//! (`<provider>::<scenario>`). A scenario a provider cannot do is ignored with the reason
//! ("not applicable: …"), and one held back by a known defect with the defect;
//! `<provider>::matrix_is_complete_and_honest` checks the list against
//! the provider's capabilities, as `tests/suite.rs` does for the adapter-level scenarios.
//!
//! `nice -n 19 cargo test -p paygate-conformance --test journeys`.

conformance::provider_tests! {
    journeys;
    mockpay: conformance::mockpay::Mockpay,
    run: [
        paid_once_through_the_services,
        a_notification_before_the_pay_answer_settles_it_with_one_charge,
        refused_and_replayed_notifications_change_nothing_and_are_flagged,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        an_expired_unpaid_payment_is_closed_at_the_provider,
        a_close_never_claims_closed_what_the_customer_can_still_pay,
        a_payment_paid_at_the_last_moment_wins_over_its_expiry,
        paid_after_close_is_succeeded_and_flagged,
        the_days_bill_reconciled_finds_every_planted_discrepancy,
        the_days_settlement_is_our_payments_of_the_providers_own_day,
        an_authorised_payment_is_captured_in_full,
        a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured,
        an_authorisation_is_voided_and_takes_nothing,
        an_authorisation_left_uncaptured_is_voided_at_its_expiry,
        an_authorisation_the_provider_releases_itself_is_voided,
        a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it,
    ],
    not_applicable: [
        a_barcode_payment_in_process_is_polled_to_success = "not applicable: mockpay has no payment-code (barcode) flow",
        a_barcode_payment_never_confirmed_is_reversed = "not applicable: mockpay has no payment-code (barcode) flow",
    ],
    defects: [],
}

conformance::provider_tests! {
    journeys;
    alipay: conformance::alipay::Alipay,
    run: [
        paid_once_through_the_services,
        a_notification_before_the_pay_answer_settles_it_with_one_charge,
        refused_and_replayed_notifications_change_nothing_and_are_flagged,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        an_expired_unpaid_payment_is_closed_at_the_provider,
        a_close_never_claims_closed_what_the_customer_can_still_pay,
        a_payment_paid_at_the_last_moment_wins_over_its_expiry,
        paid_after_close_is_succeeded_and_flagged,
        a_barcode_payment_in_process_is_polled_to_success,
        a_barcode_payment_never_confirmed_is_reversed,
        the_days_bill_reconciled_finds_every_planted_discrepancy,
    ],
    not_applicable: [
        the_days_settlement_is_our_payments_of_the_providers_own_day = "not applicable: Alipay's settlement file (the signcustomer account bill) is not implemented: its format is not confirmed",
        an_authorised_payment_is_captured_in_full = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
        a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
        an_authorisation_is_voided_and_takes_nothing = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
        an_authorisation_left_uncaptured_is_voided_at_its_expiry = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
        an_authorisation_the_provider_releases_itself_is_voided = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
        a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it = "not applicable: Alipay takes the money when the customer pays (no separate authorisation)",
    ],
    defects: [],
}

conformance::provider_tests! {
    journeys;
    wechatpay: conformance::wechatpay::Wechatpay,
    run: [
        paid_once_through_the_services,
        a_notification_before_the_pay_answer_settles_it_with_one_charge,
        refused_and_replayed_notifications_change_nothing_and_are_flagged,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        an_expired_unpaid_payment_is_closed_at_the_provider,
        a_close_never_claims_closed_what_the_customer_can_still_pay,
        a_payment_paid_at_the_last_moment_wins_over_its_expiry,
        paid_after_close_is_succeeded_and_flagged,
        the_days_bill_reconciled_finds_every_planted_discrepancy,
        the_days_settlement_is_our_payments_of_the_providers_own_day,
    ],
    not_applicable: [
        a_barcode_payment_in_process_is_polled_to_success = "not applicable: WeChat Pay's payment-code (micropay) flow is not in API v3 and not in the adapter",
        a_barcode_payment_never_confirmed_is_reversed = "not applicable: WeChat Pay's payment-code (micropay) flow is not in API v3 and not in the adapter",
        an_authorised_payment_is_captured_in_full = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
        a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
        an_authorisation_is_voided_and_takes_nothing = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
        an_authorisation_left_uncaptured_is_voided_at_its_expiry = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
        an_authorisation_the_provider_releases_itself_is_voided = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
        a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it = "not applicable: WeChat Pay takes the money when the customer pays (no separate authorisation)",
    ],
    defects: [],
}

conformance::provider_tests! {
    journeys;
    stripe: conformance::stripe::Stripe,
    run: [
        paid_once_through_the_services,
        a_notification_before_the_pay_answer_settles_it_with_one_charge,
        refused_and_replayed_notifications_change_nothing_and_are_flagged,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        an_expired_unpaid_payment_is_closed_at_the_provider,
        a_close_never_claims_closed_what_the_customer_can_still_pay,
        a_payment_paid_at_the_last_moment_wins_over_its_expiry,
        paid_after_close_is_succeeded_and_flagged,
        the_days_settlement_is_our_payments_of_the_providers_own_day,
        an_authorised_payment_is_captured_in_full,
        a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured,
        an_authorisation_is_voided_and_takes_nothing,
        an_authorisation_left_uncaptured_is_voided_at_its_expiry,
        an_authorisation_the_provider_releases_itself_is_voided,
        a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it,
    ],
    not_applicable: [
        the_days_bill_reconciled_finds_every_planted_discrepancy = "not applicable: Stripe has no trade bill",
        a_barcode_payment_in_process_is_polled_to_success = "not applicable: Stripe has no payment-code (barcode) flow",
        a_barcode_payment_never_confirmed_is_reversed = "not applicable: Stripe has no payment-code (barcode) flow",
    ],
    defects: [],
}

conformance::provider_tests! {
    journeys;
    linepay: conformance::linepay::LinePay,
    run: [
        paid_once_through_the_services,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        a_barcode_payment_in_process_is_polled_to_success,
        a_barcode_payment_never_confirmed_is_reversed,
        an_authorised_payment_is_captured_in_full,
        a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured,
        an_authorisation_is_voided_and_takes_nothing,
        an_authorisation_left_uncaptured_is_voided_at_its_expiry,
        a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it,
    ],
    not_applicable: [
        a_notification_before_the_pay_answer_settles_it_with_one_charge = "not applicable: LINE Pay sends no notifications (no webhook)",
        refused_and_replayed_notifications_change_nothing_and_are_flagged = "not applicable: LINE Pay sends no notifications (no webhook)",
        paid_after_close_is_succeeded_and_flagged = "not applicable: LINE Pay sends no notifications (no webhook); an approval after close is never confirmed (tests/linepay.rs)",
        the_days_bill_reconciled_finds_every_planted_discrepancy = "not applicable: LINE Pay has no bill API",
        the_days_settlement_is_our_payments_of_the_providers_own_day = "not applicable: LINE Pay has no settlement API",
    ],
    defects: [
        an_expired_unpaid_payment_is_closed_at_the_provider = "LINE Pay has no cancel of a payment request: after our expiry close the customer can still approve at LINE Pay (the scenario requires the approval to fail); nothing is charged, since a closed payment is never confirmed (tests/linepay.rs, an_approval_after_close_is_never_confirmed)",
        a_close_never_claims_closed_what_the_customer_can_still_pay = "LINE Pay has no cancel of a payment request: after our close the customer can still approve at LINE Pay (the scenario requires the approval to fail); nothing is charged, since a closed payment is never confirmed (tests/linepay.rs, an_approval_after_close_is_never_confirmed)",
        an_authorisation_the_provider_releases_itself_is_voided = "LINE Pay sends no notification when it releases an authorisation at its own expiry: paygate learns of it only from a query or from its own AUTHORIZATION_EXPIRY void (set below LINE Pay's hold), whose read of the details finds EXPIRED_AUTHORIZATION; the scenario waits for the provider's notification and forbids the void",
        a_payment_paid_at_the_last_moment_wins_over_its_expiry = "the scenario loses the provider's notification so that the expiry close asks first; LINE Pay has none: the customer's redirect makes the dispatcher confirm at once (succeeded, without paid_at_expiry), and an approval whose redirect is lost would lose to the expiry close, which never confirms (a close moves no money)",
    ],
}

conformance::provider_tests! {
    journeys;
    linepay_pos: conformance::linepay::LinePayPos,
    run: [
        paid_once_through_the_services,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        a_barcode_payment_in_process_is_polled_to_success,
        a_barcode_payment_never_confirmed_is_reversed,
        an_authorised_payment_is_captured_in_full,
        a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured,
        an_authorisation_is_voided_and_takes_nothing,
        an_authorisation_left_uncaptured_is_voided_at_its_expiry,
        a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it,
    ],
    not_applicable: [
        a_notification_before_the_pay_answer_settles_it_with_one_charge = "not applicable: LINE Pay sends no notifications (no webhook)",
        refused_and_replayed_notifications_change_nothing_and_are_flagged = "not applicable: LINE Pay sends no notifications (no webhook)",
        paid_after_close_is_succeeded_and_flagged = "not applicable: LINE Pay sends no notifications (no webhook)",
        the_days_bill_reconciled_finds_every_planted_discrepancy = "not applicable: LINE Pay has no bill API",
        the_days_settlement_is_our_payments_of_the_providers_own_day = "not applicable: LINE Pay has no settlement API",
    ],
    defects: [
        an_expired_unpaid_payment_is_closed_at_the_provider = "the waiting payment of these journeys is an online (redirect) one, as in the linepay block: LINE Pay has no cancel of a payment request (see there)",
        a_close_never_claims_closed_what_the_customer_can_still_pay = "the waiting payment of these journeys is an online (redirect) one, as in the linepay block: LINE Pay has no cancel of a payment request (see there)",
        an_authorisation_the_provider_releases_itself_is_voided = "LINE Pay sends no notification when it releases an authorisation at its own expiry: paygate learns of it only from a query or from its own AUTHORIZATION_EXPIRY void, whose read of the offline authorisations finds EXPIRED_AUTHORIZATION; the scenario waits for the provider's notification and forbids the void",
        a_payment_paid_at_the_last_moment_wins_over_its_expiry = "the scenario loses the provider's notification so that the expiry close asks first; LINE Pay has none (see the linepay block)",
    ],
}
