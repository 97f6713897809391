//! LINE Pay's own journeys through the services (`conformance::linepay::journeys`): confirm after
//! the customer's redirect; a lost redirect caught by `check` on the retry ladder; an approval
//! after our close never confirmed; `/notify/linepay` refused as LINE Pay has no webhook; a
//! refund cut off by a crash never sent twice (LINE Pay keeps no refund number of ours); the day's
//! query sweep agrees and never confirms; a POS terminal's one-time-key authorisation captured
//! in part, and another voided; an authorisation LINE Pay released itself, found by the expiry
//! void's read (online and at a till).
//!
//! `nice -n 19 cargo test -p paygate-conformance --test linepay`.

use conformance::Provider;
use conformance::linepay::{LinePay, journeys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linepay_confirm_after_the_redirect() {
    let p = LinePay::start().await.expect("start linepaysim");
    journeys::confirm_after_the_redirect(&p).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linepay_a_lost_redirect_is_caught_by_check_on_the_ladder() {
    let p = LinePay::start().await.expect("start linepaysim");
    journeys::a_lost_redirect_is_caught_by_check_on_the_ladder(&p).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linepay_an_approval_after_close_is_never_confirmed() {
    let p = LinePay::start().await.expect("start linepaysim");
    journeys::an_approval_after_close_is_never_confirmed(&p).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linepay_notify_refuses_linepay_clearly() {
    let p = LinePay::start().await.expect("start linepaysim");
    journeys::notify_refuses_linepay_clearly(&p).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linepay_a_refund_cut_off_by_a_crash_is_never_sent_twice() {
    let p = LinePay::start().await.expect("start linepaysim");
    journeys::a_refund_cut_off_by_a_crash_is_never_sent_twice(&p).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linepay_the_days_sweep_agrees_and_never_confirms() {
    let p = LinePay::start().await.expect("start linepaysim");
    journeys::the_days_sweep_agrees_and_never_confirms(&p).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linepay_a_one_time_key_authorisation_is_captured_or_voided() {
    let p = LinePay::start().await.expect("start linepaysim");
    journeys::a_one_time_key_authorisation_is_captured_or_voided(&p).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linepay_an_authorisation_linepay_released_itself_is_found_by_the_expiry_void() {
    let p = LinePay::start().await.expect("start linepaysim");
    journeys::an_authorisation_linepay_released_itself_is_found_by_the_expiry_void(&p).await;
    p.stop().await;
}
