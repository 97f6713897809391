//! The sign-cost benchmark: what one RSA 2048 signature and one verification cost on this
//! machine, through paygate's own `providers::rsa_sha256` (the code every Alipay and WeChat Pay
//! request and answer goes through: ring signs, `rsa` verifies), with the test vectors' key.
//!
//! ```sh
//! cargo run --release -p paygate-e2e --bin sign-cost            # --count N, default 2000
//! ```
//!
//! The last line is `sign-cost: sign <µs> µs, verify <µs> µs (RSA 2048 SHA256withRSA, <n> each)`.
//! With the provider calls per payment that `paygate-bench` prints, it gives the CPU a provider's
//! signatures cost per payment on both sides (paygate's and its simulator's), which is the floor
//! under that provider's cost per payment: docs/benchmarks.md, "How far a provider's RSA lets it
//! go". It exits non-zero if a signature made does not verify.

use clap::Parser;
use paygate::providers::rsa_sha256::{self, PrivateForms, PublicForms};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(name = "sign-cost", about = "Times paygate's RSA 2048 signing and verifying")]
struct Args {
    /// Signatures (and verifications) to time.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
}

/// The vectors' app key (throwaway, made for the SDK vectors: tests/vectors/alipay).
const VECTORS: &str = include_str!("../../../vectors/alipay/vectors.json");

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let vectors: serde_json::Value = serde_json::from_str(VECTORS)?;
    let app = &vectors["keys"]["app"];
    let text =
        |name: &str| app[name].as_str().ok_or_else(|| anyhow::anyhow!("the vectors have no keys.app.{name}"));
    let private =
        rsa_sha256::private_key_from_text(text("private_pkcs8_pem")?, PrivateForms { bare_base64: false })?;
    let public = rsa_sha256::public_key_from_text(
        text("public_spki_pem")?,
        PublicForms { pkcs1_pem: false, bare_base64: false },
    )?;
    // A request's canonical string, about the size of an Alipay barcode pay's.
    let messages: Vec<String> = (0..args.count)
        .map(|i| {
            format!(
                "app_id=2021000000000001&biz_content={{\"out_trade_no\":\"bench-{i:08}\",\"scene\":\"bar_code\",\
                 \"auth_code\":\"286648048691290423\",\"subject\":\"bench\",\"total_amount\":\"12.34\"}}\
                 &charset=utf-8&method=alipay.trade.pay&sign_type=RSA2&timestamp=2026-12-07 12:00:00&version=1.0"
            )
        })
        .collect();
    let started = Instant::now();
    let signatures =
        messages.iter().map(|m| rsa_sha256::sign(&private, m.as_bytes())).collect::<Result<Vec<_>, _>>()?;
    let signing = started.elapsed();
    let started = Instant::now();
    for (m, s) in messages.iter().zip(&signatures) {
        rsa_sha256::verify(&public, m.as_bytes(), s)
            .map_err(|e| anyhow::anyhow!("a signature made here {e}"))?;
    }
    let verifying = started.elapsed();
    println!(
        "sign-cost: sign {} µs, verify {} µs (RSA {} SHA256withRSA, {} each)",
        each_us(signing, args.count),
        each_us(verifying, args.count),
        private.bits(),
        args.count
    );
    Ok(())
}

/// Microseconds per operation, with one decimal.
fn each_us(total: Duration, count: u32) -> String {
    let tenths = total.as_nanos() / (u128::from(count) * 100);
    format!("{}.{}", tenths / 10, tenths % 10)
}
