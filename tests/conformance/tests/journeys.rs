//! Every scenario of `conformance::journeys` (through the services: ingest, the dispatcher,
//! notify-handler, the scheduler) for every provider: one test per scenario and provider
//! (`<provider>::<scenario>`). A scenario a provider cannot do is ignored with the reason
//! ("not applicable: …"), and one held back by a known defect with the defect;
//! `<provider>::matrix_is_complete_and_honest` checks the list against
//! the provider's capabilities, as `tests/suite.rs` does for the adapter-level scenarios.
//!
//! `nice -n 19 cargo test -p paygate-conformance --test journeys`.

use conformance::{Provider, journeys};

macro_rules! journeys {
    (
        $module:ident: $provider:ty,
        run: [$($run:ident),* $(,)?],
        not_applicable: [$($na:ident = $why:literal),* $(,)?],
        defects: [$($bad:ident = $defect:literal),* $(,)?] $(,)?
    ) => {
        mod $module {
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $run() {
                    let p = <$provider>::start().await.expect("start the provider");
                    journeys::$run(&p).await;
                    p.stop().await;
                }
            )*

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = $why]
                async fn $na() {
                    let p = <$provider>::start().await.expect("start the provider");
                    journeys::$na(&p).await;
                    p.stop().await;
                }
            )*

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = $defect]
                async fn $bad() {
                    let p = <$provider>::start().await.expect("start the provider");
                    journeys::$bad(&p).await;
                    p.stop().await;
                }
            )*

            #[test]
            fn matrix_is_complete_and_honest() {
                conformance::check_matrix(
                    <$provider>::NAME,
                    <$provider as Provider>::CAPABILITIES,
                    journeys::ALL,
                    journeys::capability_of,
                    &[$(stringify!($run),)* $(stringify!($bad)),*],
                    &[$(stringify!($na)),*],
                );
            }
        }
    };
}

journeys! {
    mockpay: conformance::mockpay::Mockpay,
    run: [
        paid_once_through_the_services,
        a_notification_before_the_pay_answer_settles_it_with_one_charge,
        refused_and_replayed_notifications_change_nothing_and_are_flagged,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        an_expired_unpaid_payment_is_closed_at_the_provider,
        a_payment_paid_at_the_last_moment_wins_over_its_expiry,
        paid_after_close_is_succeeded_and_flagged,
    ],
    not_applicable: [
        a_barcode_payment_in_process_is_polled_to_success = "not applicable: mockpay has no payment-code (barcode) flow",
        a_barcode_payment_never_confirmed_is_reversed = "not applicable: mockpay has no payment-code (barcode) flow",
    ],
    defects: [],
}

journeys! {
    alipay: conformance::alipay::Alipay,
    run: [
        paid_once_through_the_services,
        a_notification_before_the_pay_answer_settles_it_with_one_charge,
        refused_and_replayed_notifications_change_nothing_and_are_flagged,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        an_expired_unpaid_payment_is_closed_at_the_provider,
        a_payment_paid_at_the_last_moment_wins_over_its_expiry,
        paid_after_close_is_succeeded_and_flagged,
        a_barcode_payment_in_process_is_polled_to_success,
        a_barcode_payment_never_confirmed_is_reversed,
    ],
    not_applicable: [],
    defects: [],
}

journeys! {
    wechatpay: conformance::wechatpay::Wechatpay,
    run: [
        paid_once_through_the_services,
        a_notification_before_the_pay_answer_settles_it_with_one_charge,
        refused_and_replayed_notifications_change_nothing_and_are_flagged,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        an_expired_unpaid_payment_is_closed_at_the_provider,
        a_payment_paid_at_the_last_moment_wins_over_its_expiry,
        paid_after_close_is_succeeded_and_flagged,
    ],
    not_applicable: [
        a_barcode_payment_in_process_is_polled_to_success = "not applicable: WeChat Pay's payment-code (micropay) flow is not in API v3 and not in the adapter",
        a_barcode_payment_never_confirmed_is_reversed = "not applicable: WeChat Pay's payment-code (micropay) flow is not in API v3 and not in the adapter",
    ],
    defects: [],
}

journeys! {
    stripe: conformance::stripe::Stripe,
    run: [
        paid_once_through_the_services,
        a_notification_before_the_pay_answer_settles_it_with_one_charge,
        refused_and_replayed_notifications_change_nothing_and_are_flagged,
        a_payment_waiting_for_its_customer_is_followed_without_alarm,
        an_expired_unpaid_payment_is_closed_at_the_provider,
        a_payment_paid_at_the_last_moment_wins_over_its_expiry,
        paid_after_close_is_succeeded_and_flagged,
    ],
    not_applicable: [
        a_barcode_payment_in_process_is_polled_to_success = "not applicable: Stripe has no payment-code (barcode) flow",
        a_barcode_payment_never_confirmed_is_reversed = "not applicable: Stripe has no payment-code (barcode) flow",
    ],
    defects: [],
}
