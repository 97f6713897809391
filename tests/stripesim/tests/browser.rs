//! A customer's browser confirming a PaymentIntent with stripesim as it would with Stripe
//! (Stripe.js, or paygate's hosted cashier): the publishable key with the client secret, raw
//! card details from Stripe's test card numbers, CORS, the 3-D Secure return; and what Stripe
//! refuses (another client secret, a publishable key where the secret key is needed). The
//! PaymentIntents are made by paygate's adapter, configured with the publishable key, whose
//! action carries what the browser needs.

use paygate::domain::{Currency, Money, Payer};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::stripe::browser::BrowserConfirm;
use paygate::providers::stripe::signing::Secret;
use paygate::providers::stripe::{StripeAdapter, StripeConfig};
use paygate::providers::{CallOutcome, PayRequest, ProviderAdapter};
use serde_json::Value;
use stripesim::{SimHandle, StripeSim, testkit};

fn adapter(sim: &SimHandle) -> StripeAdapter {
    let mut config = StripeConfig::new(
        Secret::new(testkit::SECRET_KEY),
        Secret::new(testkit::WEBHOOK_SECRET),
        sim.account(),
    );
    config.base_url = sim.base_url().to_owned();
    config.browser =
        Some(BrowserConfirm::new(testkit::PUBLISHABLE_KEY, sim.base_url(), testkit::SECRET_KEY).unwrap());
    StripeAdapter::new(config).expect("the adapter builds")
}

/// A new PaymentIntent through the adapter: its trade number, and the action's client secret,
/// publishable key and API base.
async fn intent(a: &StripeAdapter) -> (String, String, String, String) {
    let trade_no = uuid::Uuid::new_v4().simple().to_string();
    let request = PayRequest {
        capture: Default::default(),
        trade_no: trade_no.clone(),
        amount: Money::from_minor(1_250, Currency::USD).unwrap(),
        subject: "browser".into(),
        pay_method: PayMethod::ClientSecret,
        notify_url: None,
        return_url: None,
        expires_at: None,
        auth_code: None,
        payer: Payer::default(),
    };
    let outcome = a.pay(&request).await.outcome;
    let CallOutcome::Answer { facts, .. } = outcome else { panic!("{outcome:?}") };
    let Some(CustomerAction::ClientSecret { client_secret, publishable_key: Some(pk), api_base: Some(base) }) =
        facts.action
    else {
        panic!("the action carries the publishable key and the API base: {facts:?}")
    };
    (trade_no, client_secret, pk, base)
}

/// A form body, as a browser encodes it.
fn encoded<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k.as_ref(), v.as_ref());
    }
    s.finish()
}

trait Form {
    fn form_body(self, body: String) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form_body(self, body: String) -> Self {
        self.header("Content-Type", "application/x-www-form-urlencoded").body(body)
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// What the browser posts: `key`, `client_secret`, the card, a `return_url`.
fn card_form(pk: &str, secret: &str, number: &str) -> Vec<(&'static str, String)> {
    vec![
        ("key", pk.to_owned()),
        ("client_secret", secret.to_owned()),
        ("payment_method_data[type]", "card".to_owned()),
        ("payment_method_data[card][number]", number.to_owned()),
        ("payment_method_data[card][exp_month]", "12".to_owned()),
        (
            "payment_method_data[card][exp_year]",
            (chrono::Datelike::year(&chrono::Utc::now()) + 3).to_string(),
        ),
        ("payment_method_data[card][cvc]", "123".to_owned()),
        ("return_url", "http://shop.example/cashier/t?lang=en".to_owned()),
    ]
}

async fn confirm(
    base: &str,
    secret: &str,
    form: &[(&str, String)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let id = secret.split("_secret_").next().unwrap();
    let r = http()
        .post(format!("{base}/v1/payment_intents/{id}/confirm"))
        .header("Origin", "http://127.0.0.1:9")
        .form_body(encoded(form))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, r.json().await.unwrap(), headers)
}

#[tokio::test]
async fn a_test_card_confirmed_with_the_publishable_key_succeeds_with_cors() {
    let sim = StripeSim::start(testkit::test_config()).await.unwrap();
    let a = adapter(&sim);
    let (trade_no, secret, pk, base) = intent(&a).await;
    assert_eq!((pk.as_str(), base.as_str()), (testkit::PUBLISHABLE_KEY, sim.base_url()));
    // The preflight a browser may send first.
    let id = secret.split("_secret_").next().unwrap();
    let pre = http()
        .request(reqwest::Method::OPTIONS, format!("{base}/v1/payment_intents/{id}/confirm"))
        .header("Origin", "http://127.0.0.1:9")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status().as_u16(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    assert!(pre.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let (status, pi, headers) = confirm(&base, &secret, &card_form(&pk, &secret, "4242424242424242")).await;
    assert_eq!((status, pi["status"].as_str()), (200, Some("succeeded")), "{pi}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(pi.get("metadata").is_none(), "a publishable key sees no metadata: {pi}");
    let truth = sim.admin().order(&trade_no).await.unwrap().unwrap();
    assert_eq!(truth["paymentIntent"]["status"], "succeeded", "{truth}");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_declined_card_shows_stripes_error_and_the_customer_may_try_again() {
    let sim = StripeSim::start(testkit::test_config()).await.unwrap();
    let a = adapter(&sim);
    let (trade_no, secret, pk, base) = intent(&a).await;
    for (number, code, decline) in [
        ("4000000000000002", "card_declined", Some("generic_decline")),
        ("4000000000009995", "card_declined", Some("insufficient_funds")),
        ("4000000000000069", "expired_card", None),
    ] {
        let (status, e, headers) = confirm(&base, &secret, &card_form(&pk, &secret, number)).await;
        assert_eq!(status, 402, "{number}: {e}");
        assert_eq!(
            (e["error"]["type"].as_str(), e["error"]["code"].as_str()),
            (Some("card_error"), Some(code))
        );
        assert_eq!(e["error"]["decline_code"].as_str(), decline, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().starts_with("Your card"), "{e}");
        assert_eq!(e["error"]["payment_intent"]["status"], "requires_payment_method");
        assert!(e["error"]["payment_intent"].get("metadata").is_none());
        assert_eq!(headers["access-control-allow-origin"], "*", "the browser may read the error");
    }
    // A malformed number is refused before any charge.
    let (status, e, _) = confirm(&base, &secret, &card_form(&pk, &secret, "4242424242424241")).await;
    assert_eq!((status, e["error"]["code"].as_str()), (402, Some("incorrect_number")), "{e}");
    let truth = sim.admin().order(&trade_no).await.unwrap().unwrap();
    assert_eq!(truth["paymentIntent"]["status"], "requires_payment_method", "nothing charged: {truth}");
    // The same client secret, another card.
    let (status, pi, _) = confirm(&base, &secret, &card_form(&pk, &secret, "4242424242424242")).await;
    assert_eq!((status, pi["status"].as_str()), (200, Some("succeeded")), "{pi}");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn another_client_secret_or_a_publishable_key_on_the_servers_endpoints_is_refused() {
    let sim = StripeSim::start(testkit::test_config()).await.unwrap();
    let a = adapter(&sim);
    let (trade_no, secret, pk, base) = intent(&a).await;
    let (_, other, _, _) = intent(&a).await;
    // The right PaymentIntent, another one's client secret.
    let id = secret.split("_secret_").next().unwrap();
    let mut form = card_form(&pk, &other, "4242424242424242");
    let r = http()
        .post(format!("{base}/v1/payment_intents/{id}/confirm"))
        .form_body(encoded(&form))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let e: Value = r.json().await.unwrap();
    assert_eq!((status, e["error"]["type"].as_str()), (400, Some("invalid_request_error")), "{e}");
    assert_eq!(e["error"]["param"], "client_secret");
    // No client secret at all.
    form.retain(|(k, _)| *k != "client_secret");
    let (status, e, _) = confirm(&base, &secret, &form).await;
    assert_eq!((status, e["error"]["param"].as_str()), (400, Some("client_secret")), "{e}");
    // A key that is not the account's.
    let (status, e, _) =
        confirm(&base, &secret, &card_form("pk_test_other", &secret, "4242424242424242")).await;
    assert_eq!((status, e["error"]["type"].as_str()), (401, Some("invalid_request_error")), "{e}");
    let truth = sim.admin().order(&trade_no).await.unwrap().unwrap();
    assert_eq!(truth["paymentIntent"]["status"], "requires_payment_method", "{truth}");
    // The publishable key cannot do what the secret key does.
    for (method, path) in [
        (reqwest::Method::POST, "/v1/payment_intents".to_owned()),
        (reqwest::Method::GET, format!("/v1/payment_intents/{id}")),
        (reqwest::Method::POST, format!("/v1/payment_intents/{id}/cancel")),
    ] {
        let r = http()
            .request(method, format!("{base}{path}"))
            .bearer_auth(&pk)
            .form_body(encoded(&[("amount", "100"), ("currency", "usd")]))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let e: Value = r.json().await.unwrap();
        assert_eq!(
            (status, e["error"]["type"].as_str()),
            (403, Some("invalid_request_error")),
            "{path}: {e}"
        );
        assert!(e["error"]["message"].as_str().unwrap().contains("publishable API key"), "{e}");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_card_that_needs_3d_secure_redirects_and_comes_back_to_the_return_url() {
    let sim = StripeSim::start(testkit::test_config()).await.unwrap();
    let a = adapter(&sim);
    let (trade_no, secret, pk, base) = intent(&a).await;
    let (status, pi, _) = confirm(&base, &secret, &card_form(&pk, &secret, "4000002500003155")).await;
    assert_eq!((status, pi["status"].as_str()), (200, Some("requires_action")), "{pi}");
    let url = pi["next_action"]["redirect_to_url"]["url"].as_str().unwrap();
    assert_eq!(pi["next_action"]["redirect_to_url"]["return_url"], "http://shop.example/cashier/t?lang=en");
    let page = http().get(url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 303);
    let to = page.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with("http://shop.example/cashier/t?lang=en&payment_intent=")
            && to.ends_with("&redirect_status=succeeded"),
        "{to}"
    );
    let truth = sim.admin().order(&trade_no).await.unwrap().unwrap();
    assert_eq!(truth["paymentIntent"]["status"], "succeeded", "{truth}");
    sim.shutdown().await.unwrap();
}
