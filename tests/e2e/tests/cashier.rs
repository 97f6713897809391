//! The hosted cashier in a real browser: Debian's chromium, driven through chromedriver by
//! fantoccini, against the whole system (ingest serving the cashier, a dispatcher, mockpay).
//!
//! - a cashier create over the signed API answers a cashier URL; the page shows the merchant, the
//!   subject and the amount; the customer picks the QR code, the simulator pays it, the page turns
//!   to paid and lands on the shop's return URL with `outcome=succeeded`; the same token cannot
//!   start another payment;
//! - a second order: the customer picks the provider's page, follows the link, the card is
//!   declined there (a scripted decline at mockpay), the page shows the failure and lands on the
//!   return URL with `outcome=failed`;
//! - an expired token shows the "expired" page (410), a changed one the "not valid" page (403);
//! - by card at Stripe (stripesim, with a publishable key): the page's own script posts Stripe's
//!   test card 4242… straight to the simulator (the page's `connect-src` allows exactly its
//!   origin), the payment succeeds in paygate and the page lands on the return URL; a second
//!   order's card 4000…0002 is declined: the page shows Stripe's message, the field stays usable,
//!   nothing is charged; a third order's card 4000 0025 0000 3155 goes through 3-D Secure (the
//!   simulator's page) and back to the cashier, which lands on the return URL.
//!
//! Screenshots of each step go to `target/cashier-screenshots/` (the path is printed). The test
//! waits by polling with deadlines, never by sleeping. Without chromium or chromedriver it
//! fails under CI (`CI=true`) and skips loudly elsewhere (scripts/test installs them:
//! scripts/lib/chromium.sh).

use fantoccini::{Client, ClientBuilder, Locator};
use paygate_e2e::System;
use paygate_e2e::system::{CASHIER_SECRET, MERCHANT, ProviderAccount, SystemOptions};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

/// Whether chromium and chromedriver are here; when not: panic under CI, else say so and skip.
fn browser_available() -> bool {
    let has = |bin: &str| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(bin).is_file()))
    };
    if has("chromium") && has("chromedriver") {
        return true;
    }
    let message = "chromium or chromedriver is not installed, so the cashier was NOT tested in a browser. \
                   Install Debian's chromium and chromium-driver (scripts/test does: scripts/lib/chromium.sh) \
                   and run this again";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    false
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    _child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        paygate_test_support::eventually("chromedriver to answer /status", WITHIN, || {
            let request = http.get(format!("{url}/status")).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        Driver { _child: child, url }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-proxy-server", "--window-size=800,1000", "--lang=en-US"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(caps).connect(&self.url).await.expect("a chromium session")
    }
}

/// Where the screenshots go.
fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("cashier-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let path = screenshots().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// The text of the first element matching `css`, once there is one.
async fn text_of(browser: &Client, css: &str) -> String {
    paygate_test_support::eventually_some(&format!("an element {css}"), WITHIN, || async move {
        let element = browser.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    })
    .await
}

/// Waits until the element `css` has `attribute` equal to `value`: its text then (read at once:
/// a final page moves on to the shop after a few seconds).
async fn until_attr(browser: &Client, css: &str, attribute: &str, value: &str) -> String {
    paygate_test_support::eventually_some(&format!("{css}[{attribute}={value}]"), WITHIN, || async move {
        let e = browser.find(Locator::Css(css)).await.ok()?;
        if e.attr(attribute).await.ok().flatten().as_deref() != Some(value) {
            return None;
        }
        e.text().await.ok()
    })
    .await
}

/// Waits until the browser is at a URL starting with `prefix` and containing `part`.
async fn until_url(browser: &Client, prefix: &str, part: &str) -> String {
    paygate_test_support::eventually_some(&format!("the browser at {prefix}…{part}"), WITHIN, || async move {
        let url = browser.current_url().await.ok()?.to_string();
        (url.starts_with(prefix) && url.contains(part)).then_some(url)
    })
    .await
}

/// The shop: its return page shows what the query said.
async fn shop() -> String {
    let app = axum::Router::new().route(
        "/return",
        axum::routing::get(|axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
            axum::response::Html(format!(
                "<!DOCTYPE html><html lang=\"en\"><title>Shop</title><h1 id=\"shop\">The shop</h1><p id=\"query\">{}</p>",
                q.unwrap_or_default().replace('<', "&lt;")
            ))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/return")
}

struct Api {
    base: String,
    key_id: String,
    secret: String,
    http: reqwest::Client,
}

impl Api {
    async fn new(system: &System) -> Self {
        let mut conn = system.db.pool.acquire().await.unwrap();
        let created = paygate::store::api_keys::create(&mut conn, MERCHANT, "cashier", None).await.unwrap();
        Api {
            base: system.ingest_api(),
            key_id: created.key.id,
            secret: created.secret,
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let headers = ingest::api::signature::headers(
            &self.key_id,
            &self.secret,
            method.as_str(),
            path,
            chrono::Utc::now().timestamp(),
            &nonce,
            &bytes,
        );
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if !bytes.is_empty() {
            request = request.header("content-type", "application/json").body(bytes);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn create(&self, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, "/v1/payments", Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// A cashier create for `order_no` in CNY: its cashier URL.
    async fn cashier(&self, order_no: &str, amount: &str, return_url: &str) -> String {
        self.cashier_in(order_no, amount, "CNY", return_url).await
    }

    /// A cashier create for `order_no` in `currency`: its cashier URL.
    async fn cashier_in(&self, order_no: &str, amount: &str, currency: &str, return_url: &str) -> String {
        let body = json!({
            "merchant_order_no": order_no, "amount": amount, "currency": currency, "order_type": "retail",
            "subject": "Browser coffee", "return_url": return_url, "cashier": true
        });
        let (status, answer) = self.create(&body).await;
        assert_eq!((status, answer["code"].as_str()), (201, Some("created")), "{answer}");
        assert_eq!(answer["data"]["state"], "awaiting_method", "{answer}");
        // The same create again: the same URL.
        let (again, repeat) = self.create(&body).await;
        assert_eq!(
            (again, &repeat["data"]["cashier_url"]),
            (200, &answer["data"]["cashier_url"]),
            "{repeat}"
        );
        answer["data"]["cashier_url"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_through_the_cashier_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let system = System::start().await;
    {
        let mut conn = system.db.pool.acquire().await.unwrap();
        let methods = ["qr".to_owned(), "redirect".to_owned()];
        paygate::store::cashier::set_methods(&mut conn, MERCHANT, "mockpay", &methods).await.unwrap();
    }
    let api = Api::new(&system).await;
    let shop = shop().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    println!("screenshots in {}", screenshots().display());

    // 1. QR code, paid by the simulator.
    let url = api.cashier("o-cashier-qr", "12.3", &shop).await;
    let page = api.http.get(&url).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    browser.goto(&format!("{url}?lang=en")).await.unwrap();
    assert_eq!(text_of(&browser, "#amount").await, "CNY 12.30");
    assert_eq!(text_of(&browser, "#subject").await, "Browser coffee");
    assert_eq!(text_of(&browser, "#merchant").await, MERCHANT);
    assert!(text_of(&browser, "label[for=method-0]").await.starts_with("QR code"));
    shot(&browser, "01-qr-choose").await;
    browser.find(Locator::Css("input[value='mockpay:qr']")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    paygate_test_support::eventually("the QR code on the page", WITHIN, || async {
        browser.find(Locator::Css("#qr svg path")).await.is_ok()
    })
    .await;
    shot(&browser, "02-qr-shown").await;
    let payment = system.payment("o-cashier-qr").await.expect("the choice created the payment");
    assert_eq!((payment.provider.as_str(), payment.pay_method.as_str()), ("mockpay", "qr"));
    system.mockpay.admin().pay(&paygate::providers::adapter::trade_no(payment.id)).await.unwrap();
    assert_eq!(until_attr(&browser, "#outcome", "data-outcome", "succeeded").await, "Paid");
    shot(&browser, "03-qr-paid").await;
    let landed = until_url(&browser, &shop, "outcome=succeeded").await;
    assert!(landed.contains("merchant_order_no=o-cashier-qr"), "{landed}");
    assert_eq!(text_of(&browser, "#shop").await, "The shop");
    shot(&browser, "04-qr-returned").await;
    // Single use: the token cannot start another payment.
    let again = api
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("method=mockpay:redirect")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    assert!(again.text().await.unwrap().contains("already chosen"));
    assert_eq!(system.truth(payment.id).await.charges, 1);

    // 2. The provider's page, where the card is declined.
    let url = api.cashier("o-cashier-decline", "8.00", &shop).await;
    browser.goto(&format!("{url}?lang=en")).await.unwrap();
    // By keyboard only: the first method has the focus, the arrow key moves to the next, Enter pays.
    let first = browser.find(Locator::Css("#method-0")).await.unwrap();
    first.send_keys(&char::from(fantoccini::key::Key::Down).to_string()).await.unwrap();
    let second = browser.find(Locator::Css("input[value='mockpay:redirect']")).await.unwrap();
    assert_eq!(
        second.prop("checked").await.unwrap().as_deref(),
        Some("true"),
        "the arrow key chose the redirect"
    );
    shot(&browser, "05-decline-choose").await;
    second.send_keys(&char::from(fantoccini::key::Key::Enter).to_string()).await.unwrap();
    let link = paygate_test_support::eventually_some("the link to mockpay", WITHIN, || async {
        browser.find(Locator::Css("a#continue")).await.ok()
    })
    .await;
    shot(&browser, "06-decline-link").await;
    let payment = system.payment("o-cashier-decline").await.unwrap();
    let order = paygate::providers::adapter::trade_no(payment.id);
    system
        .mockpay
        .admin()
        .script_fault(&order, mockpay::Operation::Pay, mockpay::Fault::Decline, 1)
        .await
        .unwrap();
    link.click().await.unwrap();
    assert_eq!(until_attr(&browser, "#outcome", "data-outcome", "failed").await, "Payment failed");
    shot(&browser, "07-decline-failed").await;
    until_url(&browser, &shop, "outcome=failed").await;
    shot(&browser, "08-decline-returned").await;

    // 3. An expired token, and a changed one.
    let key = ingest::cashier::token::TokenKey::new(CASHIER_SECRET.as_bytes());
    let session = {
        let mut conn = system.db.pool.acquire().await.unwrap();
        paygate::store::cashier::find_by_number(&mut conn, MERCHANT, "o-cashier-decline")
            .await
            .unwrap()
            .unwrap()
    };
    let expired = key.sign(session.id, chrono::Utc::now() - chrono::Duration::minutes(1));
    let expired_url = format!("{}/cashier/{expired}", system.ingest_api());
    assert_eq!(api.http.get(&expired_url).send().await.unwrap().status().as_u16(), 410);
    browser.goto(&format!("{expired_url}?lang=en")).await.unwrap();
    assert!(text_of(&browser, "#message").await.contains("expired"));
    assert_eq!(text_of(&browser, "h1").await, "This payment link has expired");
    shot(&browser, "09-expired").await;
    let tampered = format!("{}0", url.trim_end_matches(|c: char| c.is_ascii_hexdigit()));
    assert_eq!(api.http.get(&tampered).send().await.unwrap().status().as_u16(), 403);
    browser.goto(&format!("{tampered}?lang=zh")).await.unwrap();
    assert_eq!(text_of(&browser, "h1").await, "支付链接无效");
    shot(&browser, "10-tampered-zh").await;

    browser.close().await.unwrap();
    drop(driver);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_speaks_chinese_and_refuses_what_it_must() {
    let system = System::start().await;
    let api = Api::new(&system).await;
    let body = json!({
        "merchant_order_no": "o-zh", "amount": "1500", "currency": "JPY", "order_type": "retail",
        "subject": "茶", "cashier": true
    });
    // No methods set for the merchant: refused, naming `cashier`.
    let (status, answer) = api.create(&body).await;
    assert_eq!((status, answer["field"].as_str()), (422, Some("cashier")), "{answer}");
    {
        let mut conn = system.db.pool.acquire().await.unwrap();
        paygate::store::cashier::set_methods(&mut conn, MERCHANT, "mockpay", &["qr".to_owned()])
            .await
            .unwrap();
    }
    // A provider with the cashier: refused, naming it.
    let mut with_provider = body.clone();
    with_provider["provider"] = json!("mockpay");
    let (status, answer) = api.create(&with_provider).await;
    assert_eq!((status, answer["field"].as_str()), (422, Some("provider")), "{answer}");
    let (status, answer) = api.create(&body).await;
    assert_eq!(status, 201, "{answer}");
    let url = answer["data"]["cashier_url"].as_str().unwrap();
    // Until the customer chooses, the order reads as its cashier session.
    let (status, read) = api.get("/v1/payments/o-zh").await;
    assert_eq!((status, read["data"]["state"].as_str()), (200, Some("awaiting_method")), "{read}");
    assert_eq!(read["data"]["cashier_url"].as_str(), Some(url));
    // Other parameters under the same order number: a conflict.
    let mut other = body.clone();
    other["amount"] = json!("1600");
    assert_eq!(api.create(&other).await.0, 409);
    let page = api.http.get(url).header("accept-language", "zh-CN,zh;q=0.9,en;q=0.8").send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<html lang="zh">"#) && html.contains("扫码支付") && html.contains("JPY 1500"),
        "{html}"
    );
    // A method the merchant does not offer is refused, and the token stays unused.
    let refused = api.http.post(url).body("method=mockpay:form").send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    assert!(system.payment("o-zh").await.is_none());
    let status: Value = api.http.get(format!("{url}/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!((status["method_chosen"].as_bool(), status["final"].as_bool()), (Some(false), Some(false)));
    system.stop().await;
}

/// Fills the card form with `number` (a future expiry, a CVC) and pays.
async fn pay_by_card(browser: &Client, number: &str) {
    let next_year = (chrono::Datelike::year(&chrono::Utc::now()) + 2).to_string();
    for (css, value) in [
        ("#card-number", number),
        ("#card-exp-month", "12"),
        ("#card-exp-year", next_year.as_str()),
        ("#card-cvc", "123"),
    ] {
        let input = browser.find(Locator::Css(css)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
}

/// Whether the element `css` is enabled (the card form is enabled by the script).
async fn until_enabled(browser: &Client, css: &str) {
    paygate_test_support::eventually(&format!("{css} enabled"), WITHIN, || async move {
        let Ok(e) = browser.find(Locator::Css(css)).await else { return false };
        e.is_enabled().await.unwrap_or(false)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_by_card_at_stripe_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let mut sim_config = stripesim::testkit::test_config();
    sim_config.settings.notify_scale_ppm = 1_000;
    let sim = stripesim::StripeSim::start(sim_config).await.expect("stripesim starts");
    let stripe = ProviderAccount {
        name: "stripe".into(),
        settings: [
            ("KIND", "stripe"),
            ("URL", sim.base_url()),
            ("SECRET_KEY", stripesim::testkit::SECRET_KEY),
            ("WEBHOOK_SECRET", stripesim::testkit::WEBHOOK_SECRET),
            ("ACCOUNT", sim.account()),
            ("PUBLISHABLE_KEY", stripesim::testkit::PUBLISHABLE_KEY),
            ("TIMEOUT", "2s"),
            ("NOT_FOUND_FINAL_AFTER", "2s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    };
    let system = System::with(SystemOptions {
        accounts: vec![stripe],
        notify_handler: true,
        ..SystemOptions::default()
    })
    .await;
    // Stripe's events go to notify-handler, as a webhook endpoint configured at Stripe would.
    let admin = sim.admin();
    let mut settings = admin.settings().await.unwrap();
    settings.webhook_url = Some(format!("{}/notify/stripe", system.notify_http().unwrap()));
    admin.set_settings(&settings).await.unwrap();
    {
        let mut conn = system.db.pool.acquire().await.unwrap();
        paygate::store::cashier::set_methods(&mut conn, MERCHANT, "stripe", &["client_secret".to_owned()])
            .await
            .unwrap();
    }
    let api = Api::new(&system).await;
    let shop = shop().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    // 1. Stripe's test card that succeeds.
    let url = api.cashier_in("o-cashier-card", "12.50", "USD", &shop).await;
    browser.goto(&format!("{url}?lang=en")).await.unwrap();
    assert!(text_of(&browser, "label[for=method-0]").await.starts_with("Card"));
    shot(&browser, "11-card-choose").await;
    browser.find(Locator::Css("input[value='stripe:client_secret']")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    until_enabled(&browser, "#card-number").await;
    assert_eq!(text_of(&browser, "label[for=card-number]").await, "Card number");
    // The page may connect to exactly the simulator's origin, and load scripts only from itself.
    let page = api.http.get(&url).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains(&format!("connect-src 'self' {};", sim.base_url())), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(stripesim::testkit::PUBLISHABLE_KEY) && !html.contains(stripesim::testkit::SECRET_KEY)
    );
    shot(&browser, "12-card-form").await;
    pay_by_card(&browser, "4242 4242 4242 4242").await;
    shot(&browser, "13-card-typed").await;
    browser.find(Locator::Css("#card-pay")).await.unwrap().click().await.unwrap();
    assert_eq!(until_attr(&browser, "#outcome", "data-outcome", "succeeded").await, "Paid");
    shot(&browser, "14-card-paid").await;
    let landed = until_url(&browser, &shop, "outcome=succeeded").await;
    assert!(landed.contains("merchant_order_no=o-cashier-card"), "{landed}");
    shot(&browser, "15-card-returned").await;
    let paid = system.payment_in("o-cashier-card", "succeeded", WITHIN).await;
    assert_eq!((paid.provider.as_str(), paid.pay_method.as_str()), ("stripe", "client_secret"));
    let trade_no = paygate::providers::adapter::trade_no(paid.id);
    let truth = admin.order(&trade_no).await.unwrap().expect("stripesim has the PaymentIntent");
    assert_eq!(truth["charges"], 1, "{truth}");

    // 2. Stripe's test card that is declined: the provider's message, the field usable again.
    let url = api.cashier_in("o-cashier-card-declined", "7.00", "USD", &shop).await;
    browser.goto(&format!("{url}?lang=en")).await.unwrap();
    browser.find(Locator::Css("input[value='stripe:client_secret']")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    until_enabled(&browser, "#card-number").await;
    pay_by_card(&browser, "4000000000000002").await;
    shot(&browser, "16-card-decline-typed").await;
    browser.find(Locator::Css("#card-pay")).await.unwrap().click().await.unwrap();
    let error = paygate_test_support::eventually_some("the decline on the page", WITHIN, || async {
        let text = browser.find(Locator::Css("#card-error")).await.ok()?.text().await.ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert_eq!(error, "Your card was declined.");
    let role = browser.find(Locator::Css("#card-error")).await.unwrap().attr("role").await.unwrap();
    assert_eq!(role.as_deref(), Some("alert"));
    until_enabled(&browser, "#card-number").await;
    until_enabled(&browser, "#card-pay").await;
    shot(&browser, "17-card-declined").await;
    let open = system.payment("o-cashier-card-declined").await.expect("the choice created the payment");
    let trade_no = paygate::providers::adapter::trade_no(open.id);
    let truth = admin.order(&trade_no).await.unwrap().expect("stripesim has the PaymentIntent");
    assert_eq!(truth["charges"], 0, "nothing charged: {truth}");
    assert_eq!(truth["paymentIntent"]["status"], "requires_payment_method", "{truth}");
    assert!(
        !matches!(open.state.as_str(), "succeeded" | "authorized"),
        "a declined card moves no money: {}",
        open.state
    );
    assert!(browser.current_url().await.unwrap().as_str().starts_with(&url), "still on the cashier");

    // 3. A card that needs 3-D Secure: the page goes to the provider's challenge (stripesim's
    // page completes it at once) and comes back to the cashier, which follows the payment.
    let url = api.cashier_in("o-cashier-card-3ds", "9.99", "USD", &shop).await;
    browser.goto(&format!("{url}?lang=en")).await.unwrap();
    browser.find(Locator::Css("input[value='stripe:client_secret']")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    until_enabled(&browser, "#card-number").await;
    pay_by_card(&browser, "4000002500003155").await;
    browser.find(Locator::Css("#card-pay")).await.unwrap().click().await.unwrap();
    assert_eq!(until_attr(&browser, "#outcome", "data-outcome", "succeeded").await, "Paid");
    let back = browser.current_url().await.unwrap().to_string();
    assert!(
        back.starts_with(&url) && back.contains("redirect_status=succeeded"),
        "back from 3-D Secure: {back}"
    );
    shot(&browser, "18-card-3ds-paid").await;
    until_url(&browser, &shop, "outcome=succeeded").await;
    system.payment_in("o-cashier-card-3ds", "succeeded", WITHIN).await;

    browser.close().await.unwrap();
    drop(driver);
    system.stop().await;
    sim.shutdown().await.unwrap();
}
