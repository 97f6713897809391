//! Our merchant account at mockpay as every service configures it (`MOCKPAY_MERCHANT`,
//! `MOCKPAY_SECRET`): the dispatcher signs calls with it, notify-handler verifies notifications
//! with it, and reconciliation downloads bills with it. One declaration, flattened into each
//! service's command line.

/// Our merchant id at mockpay and its signing secret.
#[derive(Debug, Clone, clap::Args)]
pub struct MockpayAccount {
    /// Our merchant id at mockpay.
    #[arg(
        long = "mockpay-merchant",
        env = "MOCKPAY_MERCHANT",
        value_name = "MOCKPAY_MERCHANT",
        default_value = "paygate"
    )]
    pub merchant: String,

    /// The signing secret of that merchant.
    #[arg(
        long = "mockpay-secret",
        env = "MOCKPAY_SECRET",
        value_name = "MOCKPAY_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    pub secret: String,
}
