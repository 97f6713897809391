//! Which providers a system takes payments through, and each one's settings: read in one place,
//! the same way by every service that needs them.
//!
//! `PROVIDERS` names the providers, comma-separated (`mockpay`, or `mockpay,alipay`). Each one's
//! settings are environment variables `PAYGATE_PROVIDER_<NAME>_<KEY>`, `<NAME>` the provider's
//! name in upper case (`PAYGATE_PROVIDER_MOCKPAY_URL`). A provider's kind (which adapter speaks
//! to it) is its name, unless `PAYGATE_PROVIDER_<NAME>_KIND` says otherwise: two merchant
//! accounts at one provider are two names of one kind (`PROVIDERS=mockpay,mockpay_hk` with
//! `PAYGATE_PROVIDER_MOCKPAY_HK_KIND=mockpay`).
//!
//! A secret is given inline (`…_SECRET`) or as the path of a file holding it (`…_SECRET_FILE`,
//! for mounted secrets and PEM keys); it is never printed, in logs, errors or `--help`.
//!
//! [`ProviderArgs::registry`] builds every named provider's adapter through the kinds'
//! table ([`super::registry::KINDS`]), and a provider that is named but misconfigured stops the
//! service at start with a [`ProviderConfigError`] naming the provider and the setting.

use super::registry::{KINDS, ProviderRegistry};
use std::time::Duration;

/// The providers a service uses: `PROVIDERS`, flattened into each service's command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ProviderArgs {
    /// The payment providers this system takes payments through, comma-separated. Each one's
    /// settings are the variables PAYGATE_PROVIDER_<NAME>_<KEY> (README, "Providers").
    #[arg(long, env = "PROVIDERS", value_name = "PROVIDERS", default_value = "mockpay",
          value_parser = parse_provider_names)]
    pub providers: ProviderNames,

    /// A provider setting given on the command line, as `PAYGATE_PROVIDER_<NAME>_<KEY>=VALUE`
    /// (repeatable); it wins over the variable of the same name. For one-off runs and tests:
    /// give secrets in the environment or a file, where other users' `ps` cannot read them.
    #[arg(long = "provider-setting", value_name = "PAYGATE_PROVIDER_<NAME>_<KEY>=VALUE",
          value_parser = parse_provider_setting)]
    pub settings: Vec<(String, String)>,
}

fn parse_provider_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if key.starts_with("PAYGATE_PROVIDER_") => Ok((key.to_owned(), value.to_owned())),
        _ => Err("expected PAYGATE_PROVIDER_<NAME>_<KEY>=VALUE, such as PAYGATE_PROVIDER_MOCKPAY_TIMEOUT=5s"
            .to_owned()),
    }
}

impl ProviderArgs {
    /// Every named provider's adapter, configured from the command line's provider settings and
    /// the process environment.
    pub fn registry(&self) -> Result<ProviderRegistry, ProviderConfigError> {
        self.registry_from(&|key| self.setting(key))
    }

    /// One provider setting: the command line's, else the process environment's.
    pub fn setting(&self, key: &str) -> Option<String> {
        let given = self.settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        given.or_else(|| std::env::var(key).ok())
    }

    /// The configured names, each with its kind (`PAYGATE_PROVIDER_<NAME>_KIND`): for ingest,
    /// which builds no adapter but applies each kind's pay rules at the door.
    pub fn names_with_kinds(&self) -> Result<ProviderNames, ProviderConfigError> {
        self.providers.clone().with_kinds_from(&|key| self.setting(key))
    }

    /// As [`ProviderArgs::registry`], with the variables from `vars` (tests).
    pub fn registry_from(
        &self,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProviderRegistry, ProviderConfigError> {
        let mut registry = ProviderRegistry::new();
        for name in self.providers.names() {
            let settings = ProviderSettings { name: leak(name), vars };
            registry = registry.with((settings.kind()?.build)(&settings)?);
            if let Some(fee) = settings.fee_ppm()? {
                registry = registry.with_fee_ppm(settings.name, fee);
            }
        }
        Ok(registry)
    }
}

/// A provider's name lives as long as the process: adapters, metrics labels and bulkheads key on
/// `&'static str`. Names are read once, at start, from a short list.
fn leak(name: &str) -> &'static str {
    Box::leak(name.to_owned().into_boxed_str())
}

/// The configured provider names: at least one, each 1 to 32 of `a-z 0-9 _`, no repeats; and,
/// once [`ProviderNames::with_kinds_from`] read them, each one's kind (its name until then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderNames(Vec<String>, Vec<String>);

impl ProviderNames {
    pub fn names(&self) -> &[String] {
        &self.0
    }

    pub fn contains(&self, provider: &str) -> bool {
        self.0.iter().any(|p| p == provider)
    }

    /// The same names with each one's kind read from `PAYGATE_PROVIDER_<NAME>_KIND` in `vars`,
    /// as the registry reads it (for ingest, which builds no adapter but applies each kind's
    /// [`ProviderKind::pay_terms`](super::registry::ProviderKind) at the door).
    pub fn with_kinds_from(self, vars: &dyn Fn(&str) -> Option<String>) -> Result<Self, ProviderConfigError> {
        let mut kinds = Vec::with_capacity(self.0.len());
        for name in &self.0 {
            kinds.push(ProviderSettings { name: leak(name), vars }.kind()?.name.to_owned());
        }
        Ok(Self(self.0, kinds))
    }

    /// The kind of the configured provider `provider`, if it is configured (and paygate has the
    /// kind).
    pub fn kind_of(&self, provider: &str) -> Option<&'static super::registry::ProviderKind> {
        let i = self.0.iter().position(|p| p == provider)?;
        super::registry::kind(&self.1[i])
    }
}

/// Parses `PROVIDERS`.
pub fn parse_provider_names(s: &str) -> Result<ProviderNames, String> {
    let mut names: Vec<String> = Vec::new();
    for name in s.split(',').map(str::trim) {
        let ok = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(format!(
                "expected a comma-separated list of provider names of a-z 0-9 _, such as mockpay,stripe (got {name:?})"
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(ProviderNames(names.clone(), names))
}

/// One provider's settings, as its kind's builder reads them.
pub struct ProviderSettings<'a> {
    name: &'static str,
    vars: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> ProviderSettings<'a> {
    /// The provider's name as configured (and as payments and notification URLs spell it).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The provider's kind: `KIND`, or its own name.
    pub fn kind(&self) -> Result<&'static super::registry::ProviderKind, ProviderConfigError> {
        let kind_name = self.get("KIND").unwrap_or_else(|| self.name.to_owned());
        super::registry::kind(&kind_name).ok_or_else(|| {
            let known: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
            ProviderConfigError::UnknownKind {
                provider: self.name.to_owned(),
                setting: self.variable("KIND"),
                kind: kind_name,
                known: known.join(", "),
            }
        })
    }

    /// Settings read from `vars` (unit tests of a kind's builder).
    #[cfg(test)]
    pub(crate) fn for_tests(name: &'static str, vars: &'a dyn Fn(&str) -> Option<String>) -> Self {
        ProviderSettings { name, vars }
    }

    /// The variable that holds `key`: `PAYGATE_PROVIDER_<NAME>_<KEY>`.
    pub fn variable(&self, key: &str) -> String {
        format!("PAYGATE_PROVIDER_{}_{key}", self.name.to_ascii_uppercase())
    }

    /// `key`'s value, if set and not empty.
    /// `RECON_FEE_PPM`: the fee agreed with this provider, in parts per million of a payment
    /// (6000 = 0.6 %), if it differs from reconciliation's default.
    pub fn fee_ppm(&self) -> Result<Option<u32>, ProviderConfigError> {
        let Some(v) = self.get("RECON_FEE_PPM") else { return Ok(None) };
        match v.trim().parse::<u32>() {
            Ok(ppm) if ppm <= 1_000_000 => Ok(Some(ppm)),
            _ => Err(self.invalid(
                "RECON_FEE_PPM",
                format!("must be a whole number of parts per million from 0 to 1000000, e.g. 6000 for 0.6 % (got {v:?})"),
            )),
        }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        (self.vars)(&self.variable(key)).filter(|v| !v.trim().is_empty())
    }

    /// `key`'s value; `what` says what it is when it is missing.
    pub fn require(&self, key: &str, what: &str) -> Result<String, ProviderConfigError> {
        self.get(key).ok_or_else(|| self.missing(key, what))
    }

    /// A secret: `<KEY>` inline, or `<KEY>_FILE`, the path of a file holding it (trailing line
    /// breaks removed). Exactly one of the two.
    pub fn secret(&self, key: &str, what: &str) -> Result<String, ProviderConfigError> {
        let file_key = format!("{key}_FILE");
        match (self.get(key), self.get(&file_key)) {
            (Some(_), Some(_)) => {
                Err(self.invalid(key, format!("set either it or {}, not both", self.variable(&file_key))))
            }
            (Some(inline), None) => Ok(inline),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| self.invalid(&file_key, format!("cannot read the file {path:?}: {e}")))?;
                let secret = text.trim_end_matches(['\r', '\n']).to_owned();
                if secret.is_empty() {
                    return Err(self.invalid(&file_key, format!("the file {path:?} is empty")));
                }
                Ok(secret)
            }
            (None, None) => Err(self.missing(
                key,
                &format!("{what} (or {} naming a file that holds it)", self.variable(&file_key)),
            )),
        }
    }

    /// A wait above 0 such as `500ms`, `10s` or `2m` ([`DurationSetting`]), or `default`.
    ///
    /// [`DurationSetting`]: crate::runtime::duration_setting::DurationSetting
    pub fn wait(&self, key: &str, default: Duration) -> Result<Duration, ProviderConfigError> {
        use crate::runtime::duration_setting::DurationSetting;
        match self.get(key) {
            None => Ok(default),
            Some(v) => DurationSetting::ABOVE_ZERO.parse(&v).map_err(|reason| self.invalid(key, reason)),
        }
    }

    /// The error for `key`'s value, with `reason` (which must not quote a secret).
    pub fn invalid(&self, key: &str, reason: impl Into<String>) -> ProviderConfigError {
        ProviderConfigError::Invalid {
            provider: self.name.to_owned(),
            setting: self.variable(key),
            reason: reason.into(),
        }
    }

    fn missing(&self, key: &str, what: &str) -> ProviderConfigError {
        ProviderConfigError::Missing {
            provider: self.name.to_owned(),
            setting: self.variable(key),
            what: what.to_owned(),
        }
    }
}

/// A provider named in `PROVIDERS` that cannot be configured: the service does not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderConfigError {
    #[error("provider {provider}: {setting} must be set: {what}")]
    Missing { provider: String, setting: String, what: String },
    #[error("provider {provider}: {setting}: {reason}")]
    Invalid { provider: String, setting: String, reason: String },
    #[error(
        "provider {provider}: {setting} is {kind:?}, which is not a provider paygate has an adapter for (known: {known})"
    )]
    UnknownKind { provider: String, setting: String, kind: String, known: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn args(list: &str) -> ProviderArgs {
        ProviderArgs { providers: parse_provider_names(list).unwrap(), settings: Vec::new() }
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    const MOCKPAY: [(&str, &str); 3] = [
        ("PAYGATE_PROVIDER_MOCKPAY_URL", "http://127.0.0.1:7070"),
        ("PAYGATE_PROVIDER_MOCKPAY_MERCHANT", "paygate"),
        ("PAYGATE_PROVIDER_MOCKPAY_SECRET", "s3cret-value"),
    ];

    #[test]
    fn names_are_a_list_of_tokens_without_repeats() {
        assert_eq!(parse_provider_names("mockpay, stripe,mockpay").unwrap().names(), ["mockpay", "stripe"]);
        for bad in ["", "mockpay,", "Stripe", "a b", "a-b"] {
            let err = parse_provider_names(bad).expect_err(bad);
            assert!(err.contains("provider names of a-z 0-9 _"), "{err}");
        }
    }

    #[test]
    fn each_named_provider_is_built_from_its_own_variables() {
        let mut pairs = MOCKPAY.to_vec();
        pairs.extend([
            ("PAYGATE_PROVIDER_MOCKPAY_HK_KIND", "mockpay"),
            ("PAYGATE_PROVIDER_MOCKPAY_HK_URL", "http://127.0.0.1:7071"),
            ("PAYGATE_PROVIDER_MOCKPAY_HK_MERCHANT", "paygate-hk"),
            ("PAYGATE_PROVIDER_MOCKPAY_HK_SECRET", "other"),
        ]);
        let registry = args("mockpay,mockpay_hk").registry_from(&vars(&pairs)).unwrap();
        assert_eq!(registry.names(), ["mockpay", "mockpay_hk"]);
        assert_eq!(registry.get("mockpay_hk").unwrap().name(), "mockpay_hk");
    }

    #[test]
    fn a_named_provider_without_a_setting_names_the_provider_and_the_variable() {
        let err = args("mockpay").registry_from(&vars(&MOCKPAY[..2])).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("provider mockpay: PAYGATE_PROVIDER_MOCKPAY_SECRET must be set"), "{text}");
        assert!(text.contains("PAYGATE_PROVIDER_MOCKPAY_SECRET_FILE"), "{text}");
        let err = args("mockpay").registry_from(&vars(&MOCKPAY[1..])).unwrap_err();
        assert!(err.to_string().contains("PAYGATE_PROVIDER_MOCKPAY_URL must be set"), "{err}");
    }

    #[test]
    fn a_provider_may_have_its_own_recon_fee_and_a_bad_one_names_the_variable() {
        let registry = args("mockpay").registry_from(&vars(&MOCKPAY)).unwrap();
        assert_eq!(registry.fee_ppm("mockpay"), None);
        let mut pairs = MOCKPAY.to_vec();
        pairs.push(("PAYGATE_PROVIDER_MOCKPAY_RECON_FEE_PPM", "29000"));
        let registry = args("mockpay").registry_from(&vars(&pairs)).unwrap();
        assert_eq!(registry.fee_ppm("mockpay"), Some(29_000));
        for bad in ["2.9%", "-1", "1000001"] {
            let mut pairs = MOCKPAY.to_vec();
            pairs.push(("PAYGATE_PROVIDER_MOCKPAY_RECON_FEE_PPM", bad));
            let err = args("mockpay").registry_from(&vars(&pairs)).unwrap_err().to_string();
            assert!(
                err.starts_with(
                    "provider mockpay: PAYGATE_PROVIDER_MOCKPAY_RECON_FEE_PPM: must be a whole number"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn an_unknown_kind_is_refused_with_the_known_ones() {
        let err = args("nopay").registry_from(&vars(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "provider nopay: PAYGATE_PROVIDER_NOPAY_KIND is \"nopay\", which is not a provider paygate has an adapter for (known: mockpay, alipay, wechatpay, stripe, linepay)"
        );
    }

    #[test]
    fn a_bad_value_is_refused_without_quoting_a_secret() {
        let mut pairs = MOCKPAY.to_vec();
        pairs.push(("PAYGATE_PROVIDER_MOCKPAY_TIMEOUT", "fast"));
        let err = args("mockpay").registry_from(&vars(&pairs)).unwrap_err();
        assert!(
            err.to_string().starts_with("provider mockpay: PAYGATE_PROVIDER_MOCKPAY_TIMEOUT: expected"),
            "{err}"
        );
        let mut pairs = MOCKPAY.to_vec();
        pairs[0].1 = "ftp://mockpay";
        let err = args("mockpay").registry_from(&vars(&pairs)).unwrap_err().to_string();
        assert!(err.contains("PAYGATE_PROVIDER_MOCKPAY_URL"), "{err}");
        assert!(!err.contains("s3cret-value"), "{err}");
    }

    #[test]
    fn a_secret_comes_inline_or_from_a_file_never_both() {
        let dir = std::env::temp_dir().join(format!("paygate-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mockpay.secret");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let path = file.to_str().unwrap();
        let from_file = [MOCKPAY[0], MOCKPAY[1], ("PAYGATE_PROVIDER_MOCKPAY_SECRET_FILE", path)];
        let settings_vars = vars(&from_file);
        let settings = ProviderSettings { name: "mockpay", vars: &settings_vars };
        assert_eq!(settings.secret("SECRET", "the secret").unwrap(), "from-a-file");
        let both = [MOCKPAY[2], ("PAYGATE_PROVIDER_MOCKPAY_SECRET_FILE", path)];
        let both_vars = vars(&both);
        let settings = ProviderSettings { name: "mockpay", vars: &both_vars };
        let err = settings.secret("SECRET", "the secret").unwrap_err().to_string();
        assert!(err.contains("not both") && !err.contains("s3cret-value"), "{err}");
        let missing = [("PAYGATE_PROVIDER_MOCKPAY_SECRET_FILE", "/nonexistent/paygate.secret")];
        let missing_vars = vars(&missing);
        let settings = ProviderSettings { name: "mockpay", vars: &missing_vars };
        let err = settings.secret("SECRET", "the secret").unwrap_err().to_string();
        assert!(err.contains("PAYGATE_PROVIDER_MOCKPAY_SECRET_FILE: cannot read the file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
