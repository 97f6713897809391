//! The running simulator's state: apps, keys, settings, the trade book, and simkit's fault core.

use crate::config::{Config, Settings};
use chrono::{DateTime, FixedOffset, Utc};
use rsa::PublicKey;
use simkit::{Kit, RefundFate, lock};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

/// A trade is known by its app and the merchant's `out_trade_no`.
pub type TradeKey = (String, String);

/// How the trade was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// `alipay.trade.precreate`: a QR code the customer scans.
    Qr,
    /// `alipay.trade.pay`, `scene=bar_code`: the customer's payment code.
    BarCode,
    /// `alipay.trade.page.pay` (PC cashier).
    Page,
    /// `alipay.trade.wap.pay` (mobile web cashier).
    Wap,
}

impl Product {
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Qr => "qr",
            Product::BarCode => "bar_code",
            Product::Page => "page",
            Product::Wap => "wap",
        }
    }
}

/// Alipay's trade states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeStatus {
    WaitBuyerPay,
    TradeSuccess,
    TradeClosed,
    TradeFinished,
}

impl TradeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::TradeSuccess => "TRADE_SUCCESS",
            TradeStatus::TradeClosed => "TRADE_CLOSED",
            TradeStatus::TradeFinished => "TRADE_FINISHED",
        }
    }
}

/// A refund's state (Alipay shows only success: `refund_status=REFUND_SUCCESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    Processing,
    Success,
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub out_request_no: String,
    pub amount: i64,
    pub reason: Option<String>,
    pub state: RefundState,
    pub fate: RefundFate,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Made by `alipay.trade.cancel` (no notification of its own).
    pub by_cancel: bool,
}

#[derive(Debug, Clone)]
pub struct Trade {
    pub app_id: String,
    pub out_trade_no: String,
    pub trade_no: String,
    pub product: Product,
    pub total_amount: i64,
    pub subject: String,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    /// False until the customer scans the QR code / opens the cashier: until then Alipay has no
    /// trade to query or close (`ACQ.TRADE_NOT_EXIST`).
    pub visible: bool,
    pub status: TradeStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub buyer_user_id: String,
    pub buyer_logon_id: String,
    /// A barcode payment waiting for the customer's confirmation.
    pub confirming: bool,
    /// Set when cancel closed or refunded it: `close` or `refund`.
    pub cancel_action: Option<&'static str>,
    /// Times money was taken (at most 1).
    pub charges: u32,
    pub refunds: Vec<Refund>,
    pub notification_ids: Vec<String>,
}

impl Trade {
    /// Refunds that succeeded or are in process hold their amount.
    pub fn refund_held(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount).sum()
    }

    pub fn refunded(&self) -> i64 {
        self.refunds.iter().filter(|r| r.state == RefundState::Success).map(|r| r.amount).sum()
    }
}

/// The trade book. `generation` changes on reset so that timers from before it do nothing.
#[derive(Default)]
pub struct Book {
    pub generation: u64,
    pub trades: HashMap<TradeKey, Trade>,
    pub by_trade_no: HashMap<String, TradeKey>,
    /// Bill download tokens → (app_id, bill date, expiry).
    pub bill_tokens: HashMap<String, (String, chrono::NaiveDate, DateTime<Utc>)>,
}

impl Book {
    pub fn reset(&mut self) {
        let generation = self.generation + 1;
        *self = Book { generation, ..Book::default() };
    }

    /// By `out_trade_no` or, when that is empty, `trade_no`.
    pub fn find(&self, app_id: &str, out_trade_no: &str, trade_no: &str) -> Option<TradeKey> {
        if !out_trade_no.is_empty() {
            let key = (app_id.to_owned(), out_trade_no.to_owned());
            return self.trades.contains_key(&key).then_some(key);
        }
        self.by_trade_no.get(trade_no).filter(|k| k.0 == app_id).cloned()
    }
}

pub struct AppKey {
    pub public_key: PublicKey,
    pub seller_id: String,
}

pub struct Inner {
    pub base_url: String,
    pub alipay_key: crate::keys::Signer,
    pub apps: RwLock<HashMap<String, AppKey>>,
    pub initial_settings: Settings,
    pub settings: RwLock<Settings>,
    pub book: Mutex<Book>,
    pub kit: Kit,
    pub next_id: AtomicU64,
}

/// A cheap handle on the shared state.
#[derive(Clone)]
pub struct App(pub Arc<Inner>);

impl Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Beijing time (UTC+8), as every Alipay timestamp is.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

/// `yyyy-MM-dd HH:mm:ss`, Beijing time.
pub fn bj(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Fen as a yuan string: `12.30`, `-0.05`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
}

/// A yuan string as fen: 1 to 2 decimals, no sign, no exponent.
pub fn fen(value: &str) -> Option<i64> {
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 9 || !digits(whole) || !digits(frac) || frac.len() > 2 {
        return None;
    }
    if value.contains('.') && frac.is_empty() {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = format!("{frac:0<2}").parse().ok()?;
    Some(w * 100 + f)
}

impl App {
    pub fn new(config: &Config, base_url: String) -> anyhow::Result<App> {
        let alipay_key = match &config.alipay_private_key {
            Some(pem) => crate::keys::private_key(pem)?,
            None => crate::keys::generate()?,
        };
        let mut apps = HashMap::new();
        for (id, a) in &config.apps {
            let public_key = crate::keys::public_key(&a.public_key)
                .map_err(|e| anyhow::anyhow!("app {id}: public key: {e}"))?;
            apps.insert(id.clone(), AppKey { public_key, seller_id: a.seller_id.clone() });
        }
        Ok(App(Arc::new(Inner {
            base_url,
            alipay_key,
            apps: RwLock::new(apps),
            initial_settings: config.settings.clone(),
            settings: RwLock::new(config.settings.clone()),
            book: Mutex::new(Book::default()),
            kit: Kit::new(config.faults.clone())?,
            next_id: AtomicU64::new(1),
        })))
    }

    pub fn book(&self) -> MutexGuard<'_, Book> {
        lock(&self.book)
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_settings(&self, s: Settings) {
        *self.settings.write().unwrap_or_else(PoisonError::into_inner) = s;
    }

    pub fn seller_id(&self, app_id: &str) -> String {
        self.apps
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(app_id)
            .map(|a| a.seller_id.clone())
            .unwrap_or_default()
    }

    /// A fresh number, unique in this process.
    pub fn next(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A 28-digit trade number: Beijing date, `22001`, 15 digits.
    pub fn trade_no(&self) -> String {
        let day = Utc::now().with_timezone(&beijing()).format("%Y%m%d");
        let start = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0) % 1_000_000_000;
        format!("{day}22001{:015}", start * 1_000 + self.next() % 1_000)
    }

    /// Forgets every trade, notification, scripted and bill fault and statistic; back to the
    /// start-up settings and faults. Apps and keys stay.
    pub fn reset(&self) {
        self.book().reset();
        self.kit.reset();
        self.set_settings(self.initial_settings.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_and_fen() {
        assert_eq!(yuan(1230), "12.30");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(fen("12.3"), Some(1230));
        assert_eq!(fen("0.01"), Some(1));
        assert_eq!(fen("5"), Some(500));
        for bad in ["", "1.", ".5", "1.234", "-1", "1e3", " 1"] {
            assert_eq!(fen(bad), None, "{bad}");
        }
    }
}
