//! The provider adapters paygate has ([`KINDS`]: one line per provider folder), and the
//! configured ones by name ([`ProviderRegistry`], built by
//! [`ProviderArgs::registry`](super::settings::ProviderArgs::registry)). The dispatcher asks it for
//! the adapter of an order's provider, notify-handler for a provider's notification verifier,
//! reconciliation for its bills.

use super::adapter::{PayTerms, ProviderAdapter};
use super::settings::{ProviderConfigError, ProviderSettings};
use crate::domain::ValidationError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A kind of provider: the adapter paygate has for it, built from a configured provider's
/// settings.
pub struct ProviderKind {
    /// The kind's name: a provider's default kind is its own name.
    pub name: &'static str,
    pub build: fn(&ProviderSettings<'_>) -> Result<Arc<dyn ProviderAdapter>, ProviderConfigError>,
    /// Which pay methods the kind takes, and what each needs (a payment code of the provider's
    /// form, the payer's openid or IP): ingest refuses a pay command that breaks them, naming
    /// the field; the adapter applies the same function before it sends.
    pub pay_terms: fn(&PayTerms<'_>) -> Result<(), ValidationError>,
    /// Whether the kind can authorise a payment and capture it later (a pay command's
    /// `capture: manual`, then `capture` and `void` commands): ingest refuses manual capture for
    /// a provider without it, naming the field; its adapter's `capture` and `void` refuse locally.
    pub authorizes_separately: bool,
}

/// The kind named `name`, if paygate has it.
pub fn kind(name: &str) -> Option<&'static ProviderKind> {
    KINDS.iter().find(|k| k.name == name)
}

/// Every provider paygate has an adapter for. Adding a provider adds its folder and one line here.
pub const KINDS: &[ProviderKind] = &[
    ProviderKind {
        name: super::mockpay::NAME,
        build: super::mockpay::settings::build,
        pay_terms: super::mockpay::pay_terms,
        authorizes_separately: true,
    },
    ProviderKind {
        name: super::alipay::NAME,
        build: super::alipay::settings::build,
        pay_terms: super::alipay::pay_terms,
        authorizes_separately: false,
    },
    ProviderKind {
        name: super::wechatpay::NAME,
        build: super::wechatpay::settings::build,
        pay_terms: super::wechatpay::pay_terms,
        authorizes_separately: false,
    },
    ProviderKind {
        name: super::stripe::NAME,
        build: super::stripe::settings::build,
        pay_terms: super::stripe::pay_terms,
        authorizes_separately: true,
    },
    ProviderKind {
        name: super::linepay::NAME,
        build: super::linepay::settings::build,
        pay_terms: super::linepay::pay_terms,
        // Online (redirect) payments: `options.payment.capture: false`; one-time-key (barcode)
        // payments: the offline API's `capture: false`; then capture or void.
        authorizes_separately: true,
    },
];

#[derive(Clone, Default)]
pub struct ProviderRegistry {
    adapters: BTreeMap<&'static str, Arc<dyn ProviderAdapter>>,
    /// The fee agreed with each provider that has its own (`PAYGATE_PROVIDER_<NAME>_RECON_FEE_PPM`),
    /// in parts per million of a payment: what reconciliation expects on its bill lines.
    fees_ppm: BTreeMap<&'static str, u32>,
}

impl ProviderRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `adapter` under its own name, replacing one of the same name.
    pub fn with(mut self, adapter: Arc<dyn ProviderAdapter>) -> Self {
        self.adapters.insert(adapter.name(), adapter);
        self
    }

    /// Records the fee agreed with the provider `name`, in parts per million of a payment.
    pub fn with_fee_ppm(mut self, name: &'static str, fee_ppm: u32) -> Self {
        self.fees_ppm.insert(name, fee_ppm);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn ProviderAdapter>> {
        self.adapters.get(name)
    }

    /// The fee agreed with the provider `name`, if it has its own (otherwise reconciliation's
    /// `RECON_FEE_PPM` applies).
    pub fn fee_ppm(&self, name: &str) -> Option<u32> {
        self.fees_ppm.get(name).copied()
    }

    /// The configured names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.adapters.keys().copied().collect()
    }
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRegistry").field("providers", &self.names()).finish()
    }
}
