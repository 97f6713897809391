//! The cashier's HTML, rendered on the server: the order's summary, the methods to choose from,
//! the chosen provider's action (a QR code, a link, an auto-submitted form, a card field), the
//! outcome, and the pages for an expired or invalid link. Every value is escaped; the only script
//! is `/cashier/assets/cashier.js` (same origin, see [`super::headers`]); every control has a
//! label and is a native form element, so the page works with a keyboard and a screen reader.

use super::i18n::{Lang, Texts};
use serde_json::Value;

/// HTML-escapes text for an element's content or a quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What every page of a session shows on top.
pub struct Summary {
    pub merchant: String,
    pub order_no: String,
    pub subject: String,
    /// Formatted from minor units with the currency's exponent, e.g. `CNY 12.34`.
    pub amount: String,
}

/// The page's frame: language, title, styles, script, language switch.
fn frame(lang: Lang, token_path: Option<&str>, title: &str, body: &str, data: &str) -> String {
    let t = lang.texts();
    let switch = match token_path {
        Some(path) => format!(
            r#"<nav aria-label="{label}"><a href="{path}?lang=en" lang="en"{en}>English</a> · <a href="{path}?lang=zh" lang="zh"{zh}>中文</a></nav>"#,
            label = escape(t.language),
            path = escape(path),
            en = if lang == Lang::En { r#" aria-current="true""# } else { "" },
            zh = if lang == Lang::Zh { r#" aria-current="true""# } else { "" },
        ),
        None => String::new(),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · paygate</title>
<link rel="stylesheet" href="/cashier/assets/cashier.css">
<script src="/cashier/assets/cashier.js" defer></script>
</head>
<body>
<main id="cashier"{data}>
{switch}
{body}
</main>
</body>
</html>
"#,
        lang = lang.code(),
        title = escape(title),
    )
}

fn summary_html(t: &Texts, s: &Summary) -> String {
    format!(
        r#"<h1>{title}</h1>
<dl class="summary">
<dt>{merchant_l}</dt><dd id="merchant">{merchant}</dd>
<dt>{order_l}</dt><dd id="order">{order}</dd>
<dt>{subject_l}</dt><dd id="subject">{subject}</dd>
<dt>{amount_l}</dt><dd id="amount" class="amount">{amount}</dd>
</dl>"#,
        title = escape(t.title),
        merchant_l = escape(t.merchant),
        merchant = escape(&s.merchant),
        order_l = escape(t.order),
        order = escape(&s.order_no),
        subject_l = escape(t.subject),
        subject = escape(&s.subject),
        amount_l = escape(t.amount),
        amount = escape(&s.amount),
    )
}

/// A pay method's name on the page.
pub fn method_name(t: &Texts, pay_method: &str) -> String {
    match pay_method {
        "qr" => t.method_qr,
        "redirect" => t.method_redirect,
        "form" => t.method_form,
        "client_secret" => t.method_client_secret,
        other => other,
    }
    .to_owned()
}

/// The methods to choose from (`(value, provider, pay_method)`), as one form of radio buttons.
pub fn choose(
    lang: Lang,
    token_path: &str,
    s: &Summary,
    methods: &[(String, String, String)],
    error: Option<&str>,
) -> String {
    let t = lang.texts();
    let mut body = summary_html(t, s);
    if let Some(e) = error {
        body.push_str(&format!(r#"<p class="error" role="alert" id="error">{}</p>"#, escape(e)));
    }
    if methods.is_empty() {
        body.push_str(&format!(r#"<p id="no-methods">{}</p>"#, escape(t.no_methods)));
        return frame(lang, Some(token_path), t.title, &body, "");
    }
    let mut options = String::new();
    for (i, (value, provider, pay_method)) in methods.iter().enumerate() {
        let id = format!("method-{i}");
        options.push_str(&format!(
            r#"<div class="method"><input type="radio" name="method" id="{id}" value="{value}"{checked} required><label for="{id}">{name} <span class="provider">{via} {provider}</span></label></div>
"#,
            value = escape(value),
            checked = if i == 0 { " checked" } else { "" },
            name = escape(&method_name(t, pay_method)),
            via = escape(t.via),
            provider = escape(provider),
        ));
    }
    body.push_str(&format!(
        r#"<form method="post" action="{action}?lang={lang}" id="choose">
<fieldset>
<legend>{legend}</legend>
{options}</fieldset>
<button type="submit" id="pay">{pay} {amount}</button>
</form>"#,
        action = escape(token_path),
        lang = lang.code(),
        legend = escape(t.choose_method),
        pay = escape(t.pay),
        amount = escape(&s.amount),
    ));
    frame(lang, Some(token_path), t.title, &body, "")
}

/// What the chosen payment looks like now.
pub struct Following<'a> {
    pub provider: &'a str,
    pub state: &'a str,
    /// The provider's action, when there is one to show.
    pub action: Option<&'a Value>,
    /// The outcome (`succeeded`, `failed`, `closed`, `expired`, …) when final.
    pub outcome: Option<&'a str>,
    /// Where the customer lands once final (the merchant's return URL with the outcome).
    pub return_to: Option<&'a str>,
    /// What the status endpoint answers as `view` for this page; a change reloads it.
    pub view: &'a str,
    pub status_path: &'a str,
}

/// The chosen payment: its action while the customer must act, then its outcome.
pub fn following(lang: Lang, token_path: &str, s: &Summary, f: &Following<'_>) -> String {
    let t = lang.texts();
    let mut body = summary_html(t, s);
    let mut data = format!(r#" data-status-url="{}" data-view="{}""#, escape(f.status_path), escape(f.view));
    if let Some(outcome) = f.outcome {
        let (class, text) = match outcome {
            "succeeded" | "authorized" => ("ok", t.paid),
            "failed" => ("bad", t.failed),
            "closed" | "voided" => ("bad", t.closed),
            "expired" => ("bad", t.expired),
            _ => ("wait", t.unknown_outcome),
        };
        body.push_str(&format!(
            r#"<p class="outcome {class}" id="outcome" data-outcome="{outcome}" role="status">{text}</p>"#,
            outcome = escape(outcome),
            text = escape(text),
        ));
        if let Some(to) = f.return_to {
            data.push_str(&format!(r#" data-return-url="{}""#, escape(to)));
            body.push_str(&format!(
                r#"<p>{returning}</p><p><a class="button" id="return" href="{to}">{label}</a></p>"#,
                returning = escape(t.returning),
                to = escape(to),
                label = escape(t.return_to_shop),
            ));
        }
        return frame(lang, Some(token_path), t.title, &body, &data);
    }
    body.push_str(r#"<section id="action" aria-live="polite">"#);
    match f.action {
        Some(action) => body.push_str(&action_html(t, f.provider, action)),
        None => body.push_str(&format!(r#"<p id="waiting" role="status">{}</p>"#, escape(t.waiting))),
    }
    body.push_str(&format!(
        r#"</section>
<p class="note">{note}</p>
<noscript><p><a href="{path}?lang={lang}">{refresh}</a></p></noscript>
<p class="state">(<span id="state">{state}</span>)</p>"#,
        note = escape(t.follow_note),
        path = escape(token_path),
        lang = lang.code(),
        refresh = escape(t.refresh),
        state = escape(f.state),
    ));
    frame(lang, Some(token_path), t.title, &body, &data)
}

/// The provider's action as the customer can take it.
fn action_html(t: &Texts, provider: &str, action: &Value) -> String {
    if let Some(code) = action.get("qr_code").and_then(Value::as_str) {
        let svg = super::qr::svg(code, t.qr_label).unwrap_or_default();
        return format!(
            r#"<figure id="qr">{svg}<figcaption>{scan}</figcaption></figure>"#,
            scan = escape(t.scan_qr)
        );
    }
    if let Some(secret) = action.get("client_secret").and_then(Value::as_str) {
        return card_html(t, provider, action, secret);
    }
    let url = action.get("url").and_then(Value::as_str).unwrap_or("");
    let method = action.get("method").and_then(Value::as_str).unwrap_or("GET");
    if method.eq_ignore_ascii_case("POST") {
        let mut fields = String::new();
        if let Some(form) = action.get("form").and_then(Value::as_object) {
            for (name, value) in form {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                fields.push_str(&format!(
                    r#"<input type="hidden" name="{}" value="{}">"#,
                    escape(name),
                    escape(&value)
                ));
            }
        }
        return format!(
            r#"<form id="auto-submit" method="post" action="{url}">{fields}<button type="submit" id="continue">{cont} {provider}</button></form>"#,
            url = escape(url),
            cont = escape(t.continue_to),
            provider = escape(provider),
        );
    }
    format!(
        r#"<p><a class="button" id="continue" href="{url}">{cont} {provider}</a></p>"#,
        url = escape(url),
        cont = escape(t.continue_to),
        provider = escape(provider),
    )
}

/// A client secret's card form, when the action carries what a browser needs to confirm with the
/// provider itself (`publishable_key`, `api_base`): the script posts the card there, never to
/// paygate. Its inputs have no `name`, so that a form submitted without the script sends nothing
/// anywhere, and they stay disabled until the script enables them. Without the publishable key
/// (a payment made before it was configured, a provider that confirms another way) the page
/// says that a card cannot be taken here rather than show a field that does nothing.
fn card_html(t: &Texts, provider: &str, action: &Value, secret: &str) -> String {
    let public = |field: &str| action.get(field).and_then(Value::as_str).filter(|v| !v.is_empty());
    let (Some(key), Some(base)) = (public("publishable_key"), public("api_base")) else {
        return format!(r#"<p id="card-unavailable" role="alert">{}</p>"#, escape(t.card_unavailable));
    };
    let field = |id: &str, label: &str, autocomplete: &str, size: u8| {
        format!(
            r#"<div class="field"><label for="{id}">{label}</label><input id="{id}" type="text" inputmode="numeric" autocomplete="{autocomplete}" maxlength="{size}" size="{size}" required disabled aria-describedby="card-error"></div>"#,
            label = escape(label),
        )
    };
    format!(
        r#"<form id="card" novalidate data-client-secret="{secret}" data-publishable-key="{key}" data-api-base="{base}" data-confirming="{confirming}" data-confirmed="{confirmed}" data-network-error="{network}">
{number}
<div class="row">{month}{year}{cvc}</div>
<p class="error" id="card-error" role="alert"></p>
<p class="note" id="card-status" role="status"></p>
<button type="submit" id="card-pay" disabled>{pay}</button>
<p class="note">{note} <span class="provider">{provider}</span></p>
</form>
<noscript><p id="card-needs-script">{needs_script}</p></noscript>"#,
        secret = escape(secret),
        key = escape(key),
        base = escape(base),
        confirming = escape(t.card_confirming),
        confirmed = escape(t.card_confirmed),
        network = escape(t.card_network_error),
        number = field("card-number", t.card_number, "cc-number", 23),
        month = field("card-exp-month", t.card_exp_month, "cc-exp-month", 2),
        year = field("card-exp-year", t.card_exp_year, "cc-exp-year", 4),
        cvc = field("card-cvc", t.card_cvc, "cc-csc", 4),
        pay = escape(t.card_pay),
        note = escape(t.card_note),
        provider = escape(provider),
        needs_script = escape(t.card_needs_script),
    )
}

/// A page that only says something: an expired or invalid link, a refusal.
pub fn message(lang: Lang, title: &str, text: &str) -> String {
    let body = format!(
        r#"<h1>{title}</h1><p id="message" role="alert">{text}</p>"#,
        title = escape(title),
        text = escape(text)
    );
    frame(lang, None, title, &body, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary() -> Summary {
        Summary {
            merchant: "m<1>".into(),
            order_no: "o-1".into(),
            subject: "Tea & \"cake\"".into(),
            amount: "CNY 12.34".into(),
        }
    }

    #[test]
    fn values_are_escaped_and_methods_are_labelled_radio_buttons() {
        let methods = vec![("mockpay:qr".to_owned(), "mockpay".to_owned(), "qr".to_owned())];
        let html = choose(Lang::En, "/cashier/t", &summary(), &methods, None);
        assert!(html.contains("m&lt;1&gt;") && html.contains("Tea &amp; &quot;cake&quot;"), "{html}");
        assert!(html.contains(r#"<input type="radio" name="method" id="method-0" value="mockpay:qr""#));
        assert!(html.contains(r#"<label for="method-0">QR code"#));
        assert!(html.contains(r#"<html lang="en">"#) && !html.contains("<script>"));
        let zh = choose(Lang::Zh, "/cashier/t", &summary(), &methods, None);
        assert!(zh.contains("扫码支付") && zh.contains(r#"<html lang="zh">"#));
    }

    #[test]
    fn each_action_is_shown_its_own_way() {
        let t = Lang::En.texts();
        assert!(action_html(t, "mockpay", &json!({"qr_code": "mockpay://pay/1"})).contains("<svg"));
        let get = action_html(t, "mockpay", &json!({"method": "GET", "url": "http://p/pay?a=1&b=2"}));
        assert!(get.contains(r#"href="http://p/pay?a=1&amp;b=2""#), "{get}");
        let post = action_html(
            t,
            "alipay",
            &json!({"method": "POST", "url": "http://p/gw", "form": {"sign": "x\"y"}}),
        );
        assert!(post.contains(r#"id="auto-submit" method="post" action="http://p/gw""#), "{post}");
        assert!(post.contains(r#"name="sign" value="x&quot;y""#), "{post}");
        // Without a publishable key no dead field: it says a card cannot be taken here.
        let old = action_html(t, "stripe", &json!({"client_secret": "pi_1_secret_2"}));
        assert!(old.contains(r#"id="card-unavailable" role="alert""#) && !old.contains("<input"), "{old}");
        assert!(!old.contains("pi_1_secret_2"), "{old}");
    }

    #[test]
    fn a_card_form_posts_nowhere_but_carries_what_the_script_needs() {
        let t = Lang::En.texts();
        let card = action_html(
            t,
            "stripe",
            &json!({"client_secret": "pi_1_secret_2", "publishable_key": "pk_test_1", "api_base": "https://api.stripe.com"}),
        );
        for want in [
            r#"data-client-secret="pi_1_secret_2""#,
            r#"data-publishable-key="pk_test_1""#,
            r#"data-api-base="https://api.stripe.com""#,
            r#"<label for="card-number">Card number</label>"#,
            r#"<label for="card-exp-month">"#,
            r#"<label for="card-exp-year">"#,
            r#"<label for="card-cvc">"#,
            r#"autocomplete="cc-number""#,
            r#"id="card-error" role="alert""#,
            r#"<noscript>"#,
        ] {
            assert!(card.contains(want), "{want} in {card}");
        }
        // No input is named, so a submit without the script sends no card data anywhere; and no
        // input works until the script enables it.
        assert!(!card.contains(" name="), "{card}");
        assert_eq!(card.matches("<input").count(), card.matches(" disabled ").count(), "{card}");
        assert!(!card.contains(" action="), "{card}");
    }
}
