//! The cashier's words, in English and Chinese (the seeds' languages), and how a request picks
//! one: `?lang=en|zh` first, then the first language of `Accept-Language` (by its q-values) that
//! the cashier has, else English.

use axum::http::HeaderMap;

/// A language the cashier speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The `lang` attribute and the `?lang=` value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    fn of_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The language of a request: `?lang=` when it names one, else `Accept-Language`.
    pub fn negotiate(query_lang: Option<&str>, headers: &HeaderMap) -> Lang {
        if let Some(lang) = query_lang.and_then(Lang::of_tag) {
            return lang;
        }
        let accept =
            headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        // (q in thousandths, position) so that equal q-values keep the header's order.
        let mut best: Option<(u16, usize, Lang)> = None;
        for (i, item) in accept.split(',').enumerate() {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::of_tag) else { continue };
            let q = parts.find_map(|p| p.trim().strip_prefix("q=")).map_or(1000, quality);
            if q == 0 {
                continue;
            }
            if best.is_none_or(|(bq, _, _)| q > bq) {
                best = Some((q, i, lang));
            }
        }
        best.map_or(Lang::En, |(_, _, lang)| lang)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }
}

/// A q-value (`0`, `0.8`, `1.000`) in thousandths, without floating point.
fn quality(q: &str) -> u16 {
    let (whole, frac) = q.trim().split_once('.').unwrap_or((q.trim(), ""));
    if whole == "1" {
        return 1000;
    }
    if whole != "0" {
        return 0;
    }
    let digits: String = frac.chars().take(3).collect();
    let padded = format!("{digits:0<3}");
    padded.parse().unwrap_or(0)
}

/// Every word the pages show.
pub struct Texts {
    pub title: &'static str,
    pub merchant: &'static str,
    pub order: &'static str,
    pub subject: &'static str,
    pub amount: &'static str,
    pub choose_method: &'static str,
    pub pay: &'static str,
    pub no_methods: &'static str,
    pub method_qr: &'static str,
    pub method_redirect: &'static str,
    pub method_form: &'static str,
    pub method_client_secret: &'static str,
    pub via: &'static str,
    pub waiting: &'static str,
    pub scan_qr: &'static str,
    pub qr_label: &'static str,
    pub continue_to: &'static str,
    pub card_number: &'static str,
    pub card_exp_month: &'static str,
    pub card_exp_year: &'static str,
    pub card_cvc: &'static str,
    pub card_pay: &'static str,
    pub card_note: &'static str,
    pub card_unavailable: &'static str,
    pub card_needs_script: &'static str,
    pub card_confirming: &'static str,
    pub card_confirmed: &'static str,
    pub card_network_error: &'static str,
    pub follow_note: &'static str,
    pub refresh: &'static str,
    pub paid: &'static str,
    pub failed: &'static str,
    pub closed: &'static str,
    pub expired: &'static str,
    pub returning: &'static str,
    pub return_to_shop: &'static str,
    pub unknown_outcome: &'static str,
    pub link_expired_title: &'static str,
    pub link_expired: &'static str,
    pub link_invalid_title: &'static str,
    pub link_invalid: &'static str,
    pub already_chosen: &'static str,
    pub not_offered: &'static str,
    pub refused: &'static str,
    pub try_later: &'static str,
    pub too_many: &'static str,
    pub language: &'static str,
}

pub static EN: Texts = Texts {
    title: "Checkout",
    merchant: "Merchant",
    order: "Order",
    subject: "For",
    amount: "Amount",
    choose_method: "Choose how to pay",
    pay: "Pay",
    no_methods: "This shop has no payment methods set up for its checkout. Please go back to the shop.",
    method_qr: "QR code",
    method_redirect: "Pay on the provider's page",
    method_form: "Pay on the provider's page (form)",
    method_client_secret: "Card",
    via: "with",
    waiting: "Waiting for the payment provider…",
    scan_qr: "Scan this code with your payment app.",
    qr_label: "QR code to pay",
    continue_to: "Continue to",
    card_number: "Card number",
    card_exp_month: "Expiry month (MM)",
    card_exp_year: "Expiry year (YYYY)",
    card_cvc: "Security code (CVC)",
    card_pay: "Pay by card",
    card_note: "Your card details go from this page straight to the payment provider; they never reach the shop or this gateway. Provider:",
    card_unavailable: "Card payment is not available here for this order. Go back to the shop and choose another way to pay.",
    card_needs_script: "Paying by card needs JavaScript: turn it on, or go back to the shop and choose another way to pay.",
    card_confirming: "Confirming your card with the provider…",
    card_confirmed: "Your card was accepted; waiting for the provider to confirm the payment…",
    card_network_error: "The payment provider could not be reached. Check your connection and try again.",
    follow_note: "This page follows your payment and updates by itself.",
    refresh: "Refresh",
    paid: "Paid",
    failed: "Payment failed",
    closed: "Payment closed",
    expired: "Payment expired",
    returning: "Taking you back to the shop…",
    return_to_shop: "Return to the shop",
    unknown_outcome: "We are still confirming this payment with the provider.",
    link_expired_title: "This payment link has expired",
    link_expired: "This payment link has expired. Go back to the shop and start the payment again.",
    link_invalid_title: "This payment link is not valid",
    link_invalid: "This payment link is not valid (it was changed or cut short). Use the link the shop gave you.",
    already_chosen: "A payment method was already chosen for this order; it cannot be changed here.",
    not_offered: "That payment method is not offered for this order.",
    refused: "The payment could not be started:",
    try_later: "Something went wrong on our side. Please try again in a moment.",
    too_many: "Too many requests from your network. Please wait a few seconds and try again.",
    language: "Language",
};

pub static ZH: Texts = Texts {
    title: "收银台",
    merchant: "商户",
    order: "订单号",
    subject: "商品",
    amount: "金额",
    choose_method: "选择支付方式",
    pay: "支付",
    no_methods: "该商户尚未为收银台配置支付方式，请返回商户页面。",
    method_qr: "扫码支付",
    method_redirect: "跳转到支付机构页面",
    method_form: "跳转到支付机构页面（表单）",
    method_client_secret: "银行卡",
    via: "通过",
    waiting: "正在等待支付机构响应……",
    scan_qr: "请使用支付应用扫描二维码。",
    qr_label: "支付二维码",
    continue_to: "前往",
    card_number: "卡号",
    card_exp_month: "有效期月份（MM）",
    card_exp_year: "有效期年份（YYYY）",
    card_cvc: "安全码（CVC）",
    card_pay: "银行卡支付",
    card_note: "您的银行卡信息由本页面直接发送给支付机构，不会经过商户或本网关。支付机构：",
    card_unavailable: "该订单无法在此使用银行卡支付，请返回商户选择其他支付方式。",
    card_needs_script: "银行卡支付需要启用 JavaScript；请启用，或返回商户选择其他支付方式。",
    card_confirming: "正在向支付机构确认您的银行卡……",
    card_confirmed: "银行卡已受理，正在等待支付机构确认支付……",
    card_network_error: "无法连接支付机构，请检查网络后重试。",
    follow_note: "本页面会自动跟踪支付状态。",
    refresh: "刷新",
    paid: "支付成功",
    failed: "支付失败",
    closed: "支付已关闭",
    expired: "支付已过期",
    returning: "正在返回商户……",
    return_to_shop: "返回商户",
    unknown_outcome: "我们正在与支付机构确认这笔支付。",
    link_expired_title: "支付链接已过期",
    link_expired: "支付链接已过期，请返回商户重新发起支付。",
    link_invalid_title: "支付链接无效",
    link_invalid: "支付链接无效（已被修改或不完整），请使用商户提供的链接。",
    already_chosen: "该订单已选择支付方式，无法在此更改。",
    not_offered: "该订单不支持此支付方式。",
    refused: "无法发起支付：",
    try_later: "系统繁忙，请稍后再试。",
    too_many: "您的网络请求过于频繁，请稍等几秒后再试。",
    language: "语言",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_query_wins_then_accept_language_by_quality_then_english() {
        assert_eq!(Lang::negotiate(Some("zh"), &accept("en")), Lang::Zh);
        assert_eq!(Lang::negotiate(Some("fr"), &accept("zh-CN,zh;q=0.9")), Lang::Zh);
        assert_eq!(Lang::negotiate(None, &accept("fr-FR, en;q=0.5, zh;q=0.8")), Lang::Zh);
        assert_eq!(Lang::negotiate(None, &accept("en-US,en;q=0.9,zh;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(None, &accept("zh;q=0, de")), Lang::En);
        assert_eq!(Lang::negotiate(None, &HeaderMap::new()), Lang::En);
        assert_eq!(quality("0.25"), 250);
        assert_eq!(quality("1.0"), 1000);
    }
}
