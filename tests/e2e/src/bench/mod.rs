//! `paygate-bench`: end-to-end payments per second and latency, against the floor measured in
//! the same run (issue "Pay, refund, close and query end to end").
//!
//! One run:
//! 1. for each provider of `--provider` (mockpay unless told; [`providers`]), starts a fresh
//!    paygate system ([`services`]): database, vhost, the provider's simulator in-process with no
//!    added latency, ingest and provider-dispatcher (and notify-handler, for WeChat Pay) as
//!    release-built processes;
//! 2. drives it ([`driver`]): `count` pays the way that provider charges (mockpay direct, Alipay
//!    barcode, WeChat Pay QR paid by the simulated customer), a refund after a share of the
//!    successes, each timed from its command's publish to its final event at upstream;
//! 3. with `--provider-latency`, does 1–2 again on a fresh system whose simulator takes that
//!    long to answer every call, as real providers do; with `--other-provider-timing-out` (mockpay
//!    only), twice more with a second provider taking every other payment (healthy, then timing
//!    out on every call): how well mockpay's payments are isolated from it;
//! 4. stops and removes each system, then runs the floor's pipeline ([`floor`]) once, on the same
//!    machine, at its best setting and with quorum queues as paygate uses;
//! 5. prints the figures of each pass (with the provider calls in flight and the database
//!    connections in use, [`peaks`], and the provider calls and notifications per payment,
//!    [`calls`]), ending with
//!    `latency: <X> payments/s with <spec> per call, <X/zero> of zero latency, p99: <ms> ms` (with
//!    `--provider-latency`) and
//!    `e2e: <X> payments/s, floor: <Y> payments/s, ratio: <X/Y>, p99: <ms> ms`. A run with any
//!    provider but mockpay alone names the provider in each of these lines
//!    (`e2e alipay: …, ratio: <X/Y>, p50: <ms> ms, p99: <ms> ms`), one line per provider, each
//!    against the same floor.

pub mod calls;
pub mod cpu;
pub mod driver;
pub mod floor;
pub mod http_upstream;
pub mod latency;
pub mod peaks;
pub mod providers;
pub mod services;
pub mod stats;

use anyhow::bail;
use clap::Parser;
use providers::BenchProvider;
use stats::{Milli, Millis};
use std::path::PathBuf;
use std::time::Instant;

/// The bench's command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "paygate-bench",
    about = "End-to-end payments/s and latency of paygate, against the floor in the same run",
    long_about = "End-to-end payments/s and latency of paygate, against the floor in the same run.\n\n\
        Build first: cargo build --release --workspace --bins. The last line printed is\n\
        `e2e: <X> payments/s, floor: <Y> payments/s, ratio: <X/Y>, p99: <ms> ms`; with\n\
        --provider naming any other provider, one `e2e <provider>: …` line per provider."
)]
pub struct BenchArgs {
    /// The provider(s) to run a pass against, each on its own simulator, in this order
    /// (repeatable, or comma-separated: `--providers mockpay,alipay,wechatpay`). mockpay pays
    /// direct; alipay by barcode (alipay.trade.pay); wechatpay by QR, paid by the simulated
    /// customer and confirmed through notify-handler; stripe by client secret, confirmed by the
    /// simulated customer's card; linepay by redirect in TWD, approved by the simulated customer,
    /// whose redirect to notify-handler makes the dispatcher confirm.
    #[arg(
        long = "provider",
        visible_alias = "providers",
        value_enum,
        value_delimiter = ',',
        default_value = "mockpay"
    )]
    pub provider: Vec<BenchProvider>,
    /// Pay commands to publish (per pass).
    #[arg(long, default_value_t = 5000)]
    pub count: u64,
    /// Share of the payments that get a refund after their success (0 to 1, at most 3 decimals).
    #[arg(long, default_value = "0.1", value_parser = parse_share)]
    pub refund_share: Milli,
    /// At most this many payments in the system at once (0: publish as fast as confirms allow).
    #[arg(long, visible_alias = "concurrency", default_value_t = 1000)]
    pub inflight: usize,
    /// Publisher tasks of the driver, each awaiting its own confirm.
    #[arg(long, default_value_t = 32)]
    pub publishers: usize,
    /// Run a second pass per provider with this latency added to every call its simulator
    /// answers: `FIXED[+JITTER]` in ms
    /// (`300+200`: 300 to 500 ms, uniform) or percentiles `pNN=MS,…,p100=MS` (`p50=300,p99=900,p100=1500`).
    #[arg(long, value_parser = latency::parse)]
    pub provider_latency: Option<simkit::Latency>,
    /// Run two more passes with a second provider (`mockpay_b`, a mockpay of its own) taking
    /// every other payment, unawaited: once answering like mockpay, once timing out on every
    /// call. Reports mockpay's throughput in the second as a share of the first (both with
    /// `--provider-latency`, if given). Needs mockpay among the providers.
    #[arg(long)]
    pub other_provider_timing_out: bool,
    /// Do the whole run (every pass, then the floor) this many times, one after the other, and end
    /// with the median of each figure: a machine whose speed wanders (a neighbour's load) moves
    /// one round's ratio more than the median of three.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub repeat: u32,
    /// How upstream sends its commands: `amqp` (published, the default) or `http` (signed requests
    /// to ingest's upstream API, docs/http-api.md; each create's answer time is reported too).
    #[arg(long, value_enum, default_value = "amqp")]
    pub via: http_upstream::Via,
    /// Start pay commands at this many a second (open loop, e.g. half the rate a run reached, for
    /// latency at a known load); unset: as fast as the publishers go.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// Hard time bound of the paygate run, in seconds.
    #[arg(long, default_value_t = 300)]
    pub max_secs: u64,

    /// Where ingest and provider-dispatcher are (default: beside this binary, target/release).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// ORDER_SHARDS of the system.
    #[arg(long, default_value_t = 4)]
    pub shards: u16,
    /// SHARD_CONCURRENCY of the dispatcher (its default).
    #[arg(long, default_value_t = 32)]
    pub shard_concurrency: u16,
    /// DATABASE_MAX_CONNECTIONS of each service.
    #[arg(long, default_value_t = 16)]
    pub db_connections: u32,
    /// provider-dispatcher instances.
    #[arg(long, default_value_t = 1)]
    pub dispatchers: usize,
    /// More environment for the services, KEY=VALUE (repeatable).
    #[arg(long = "service-env", value_parser = parse_env)]
    pub service_env: Vec<(String, String)>,
    /// RUST_LOG of the services.
    #[arg(long, default_value = "info")]
    pub service_log: String,

    /// Do not run the floor (the last line then says `floor: skipped`).
    #[arg(long)]
    pub skip_floor: bool,
    /// The floor binary (default: build ../shared/bench/floor into target/floor).
    #[arg(long)]
    pub floor_bin: Option<PathBuf>,
    /// Payments the floor drives (its README's best setting uses 25000).
    #[arg(long, default_value_t = 25000)]
    pub floor_count: u64,
    /// The floor's consumers per stage, prefetch and pool: its best setting.
    #[arg(long, default_value_t = 2)]
    pub floor_consumers: u32,
    #[arg(long, default_value_t = 128)]
    pub floor_prefetch: u32,
    #[arg(long, default_value_t = 16)]
    pub floor_pool: u32,
}

fn parse_share(s: &str) -> Result<Milli, String> {
    let share = Milli::parse(s)?;
    if share.0 > 1000 {
        return Err(format!("expected a share from 0 to 1 (got {s})"));
    }
    Ok(share)
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE (got {s:?})"))
}

impl BenchArgs {
    /// The providers, each once, in the order given.
    pub fn providers(&self) -> Vec<BenchProvider> {
        let mut providers = Vec::new();
        for p in &self.provider {
            if !providers.contains(p) {
                providers.push(*p);
            }
        }
        providers
    }

    /// Whether the report names the provider in its lines: any run but mockpay's alone.
    fn names_providers(&self) -> bool {
        self.providers() != [BenchProvider::Mockpay]
    }
}

/// The workspace root (this crate is tests/e2e).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One pass of paygate: a fresh system, driven, stopped.
struct Pass {
    driven: driver::Driven,
    cpu_line: String,
    peaks: peaks::Peaks,
    /// The provider calls and notifications per payment, or why they could not be read.
    asked: String,
}

async fn pass(
    args: &BenchArgs,
    bin_dir: &std::path::Path,
    provider: BenchProvider,
    latency: Option<simkit::Latency>,
    second_provider: Option<services::SecondProvider>,
) -> anyhow::Result<Pass> {
    let settings = services::ServiceSettings {
        bin_dir: bin_dir.to_path_buf(),
        provider,
        order_shards: args.shards,
        shard_concurrency: args.shard_concurrency,
        database_max_connections: args.db_connections,
        dispatchers: args.dispatchers,
        provider_latency: latency,
        extra_env: args.service_env.clone(),
        log: args.service_log.clone(),
        second_provider,
        via: args.via,
    };
    eprintln!("bench: starting paygate ({settings:?})");
    let system = services::BenchSystem::start(&settings).await?;
    let drive = driver::Drive {
        provider,
        count: args.count,
        refund_permille: args.refund_share.0,
        publishers: args.publishers,
        inflight: args.inflight,
        max_secs: args.max_secs,
        second_provider: second_provider.map(|_| services::SECOND_PROVIDER.to_owned()),
        via: args.via,
        rate: args.rate,
    };
    eprintln!("bench: driving {drive:?}");
    let pids = system.pids();
    let stop_sampling = tokio_util::sync::CancellationToken::new();
    let sampler = peaks::sample(
        system.db.pool.clone(),
        system.db.name.clone(),
        system.dispatcher_http.clone(),
        stop_sampling.clone(),
    );
    let cpu0 = (cpu::snapshot(&pids), Instant::now());
    let driven = driver::run(
        &system.vhost.amqp_url,
        &system.topology.commands_exchange(),
        &system.topology.events_exchange(),
        drive,
        system.simulator.customer(),
        system.api.clone().map(http_upstream::HttpUpstream::new).transpose()?,
    )
    .await;
    let cpu_line = cpu::report(
        &cpu0.0,
        &cpu::snapshot(&pids),
        u64::try_from(cpu0.1.elapsed().as_millis()).unwrap_or(u64::MAX),
        args.count,
        provider.simulator(),
        &pids,
    );
    stop_sampling.cancel();
    let peaks = sampler.await.unwrap_or_default();
    let asked = match calls::Asked::read(&system.db.pool).await {
        Ok(asked) => asked.line(args.count),
        Err(e) => format!("provider calls per payment: not read: {e}"),
    };
    system.stop().await;
    Ok(Pass { driven: driven?, cpu_line, peaks, asked })
}

/// Prints one pass's figures, each line starting with `label`.
fn report(args: &BenchArgs, label: &str, provider: BenchProvider, pass: &Pass) {
    let driven = &pass.driven;
    let pay = driven.pay_latency.summary();
    if driven.second_sent > 0 {
        println!(
            "{label}: {} payments sent to {} (every other one, not awaited); the figures below are mockpay's",
            driven.second_sent,
            services::SECOND_PROVIDER
        );
    }
    println!("{label}: provider {}: {}", provider.name(), provider.flow());
    println!(
        "{label}: {} payments ({} succeeded, {} failed, {} rejected), {} refunds sent ({} succeeded, {} failed); {}",
        args.count - driven.second_sent,
        driven.payments_succeeded,
        driven.payments_failed,
        driven.rejected,
        driven.refunds_sent,
        driven.refunds_succeeded,
        driven.refunds_failed,
        provider.refunds()
    );
    println!(
        "{label}: wall {} s from first publish to last final event (publishing took {} s), inflight window {}, \
         {} shards x concurrency {}, {} dispatcher(s), pool {}",
        Millis(driven.last_final_us / 1000), // µs → ms, shown as s
        Millis(driven.last_publish_us / 1000),
        args.inflight,
        args.shards,
        args.shard_concurrency,
        args.dispatchers,
        args.db_connections,
    );
    if let Some(s) = pay {
        println!("{label}: pay command -> payment final event: {s}");
    }
    if let Some(s) = driven.create_latency.summary() {
        println!(
            "{label}: over HTTP: {} creates/s (answered), POST /v1/payments -> its answer: {s}",
            Milli::rate(driven.create_latency.len() as u64, driven.last_create_us).show(1)
        );
    }
    if let Some(s) = driven.refund_latency.summary() {
        println!("{label}: refund command -> refund final event: {s}");
    }
    println!("{label}: {}", pass.cpu_line);
    println!("{label}: {}", pass.peaks.line());
    println!("{label}: {}", pass.asked);
    for p in &driven.problems {
        println!("{label}: problem: {p}");
    }
}

fn rate(pass: &Pass) -> Milli {
    Milli::rate(pass.driven.payments_final, pass.driven.last_final_us)
}

fn p99(pass: &Pass) -> String {
    pass.driven.pay_latency.summary().map_or_else(|| "-".to_owned(), |s| Millis(s.p99_us).to_string())
}

fn p50(pass: &Pass) -> String {
    pass.driven.pay_latency.summary().map_or_else(|| "-".to_owned(), |s| Millis(s.p50_us).to_string())
}

/// One provider's passes: with no added latency, and with `--provider-latency`'s.
struct ProviderPasses {
    provider: BenchProvider,
    zero: Pass,
    slow: Option<Pass>,
}

/// One provider's headline figures of one round: its ratio to the floor and, with
/// `--provider-latency`, its throughput with latency as a share of its zero-latency one.
type ProviderHeadline = (BenchProvider, Option<Milli>, Option<Milli>);
/// One round's headline figures: per provider, and with `--other-provider-timing-out` mockpay's
/// throughput while the other provider times out, as a share of its normal.
struct Headline {
    providers: Vec<ProviderHeadline>,
    isolation: Option<Milli>,
}

/// Runs the whole bench `--repeat` times and prints each round's report; with more than one
/// round, ends with the median of each headline figure.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let mut rounds = Vec::new();
    for round_no in 1..=args.repeat {
        if args.repeat > 1 {
            println!("round {round_no} of {}", args.repeat);
        }
        rounds.push(round(&args).await?);
    }
    if args.repeat > 1 {
        for line in medians(&args, &rounds) {
            println!("{line}");
        }
    }
    Ok(())
}

/// The median lines of several rounds: `median of <N>: e2e[ <provider>]: ratio <r> (<r1>, <r2>, …)`,
/// with latency `median of <N>: latency[ <provider>]: <x> of zero latency (…)`, and with
/// `--other-provider-timing-out` `median of <N>: isolation: <x> of its normal (…)`.
fn medians(args: &BenchArgs, rounds: &[Headline]) -> Vec<String> {
    fn median(mut v: Vec<Milli>) -> Milli {
        v.sort_unstable_by_key(|m| m.0);
        v[v.len() / 2]
    }
    let named = args.names_providers();
    let show = |v: &[Milli]| v.iter().map(|m| m.show(2)).collect::<Vec<_>>().join(", ");
    let mut lines = Vec::new();
    for provider in args.providers() {
        let tag = if named { format!(" {}", provider.name()) } else { String::new() };
        let of = |pick: fn(&ProviderHeadline) -> Option<Milli>| -> Vec<Milli> {
            rounds
                .iter()
                .filter_map(|r| r.providers.iter().find(|h| h.0 == provider).and_then(pick))
                .collect()
        };
        for (what, values) in [("e2e", of(|h| h.1)), ("latency", of(|h| h.2))] {
            if values.is_empty() {
                continue;
            }
            let figure = if what == "e2e" { "ratio" } else { "of zero latency" };
            let m = median(values.clone()).show(2);
            let (head, tail) = if what == "e2e" {
                (format!("{figure} {m}"), String::new())
            } else {
                (m, format!(" {figure}"))
            };
            lines.push(format!("median of {}: {what}{tag}: {head}{tail} ({})", rounds.len(), show(&values)));
        }
    }
    let isolation: Vec<Milli> = rounds.iter().filter_map(|r| r.isolation).collect();
    if !isolation.is_empty() {
        let m = median(isolation.clone()).show(2);
        lines.push(format!(
            "median of {}: isolation: {m} of its normal ({})",
            rounds.len(),
            show(&isolation)
        ));
    }
    lines
}

/// One round: every pass, then the floor; prints its report and returns its headline figures.
async fn round(args: &BenchArgs) -> anyhow::Result<Headline> {
    let args = args.clone();
    let providers = args.providers();
    if args.other_provider_timing_out && !providers.contains(&BenchProvider::Mockpay) {
        bail!("--other-provider-timing-out measures mockpay beside mockpay_b: add --provider mockpay");
    }
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?.parent().map(PathBuf::from).unwrap_or_default(),
    };
    // Build (or find) the floor first, so a broken floor does not waste a paygate run.
    let floor_bin = if args.skip_floor {
        None
    } else if let Some(bin) = &args.floor_bin {
        Some(bin.clone())
    } else {
        let root = workspace_root();
        Some(floor::build(&floor::default_manifest(&root), &floor::default_target_dir(&root)).await?)
    };

    let mut passes = Vec::new();
    for provider in providers {
        let zero = pass(&args, &bin_dir, provider, None, None).await?;
        let slow = match &args.provider_latency {
            Some(latency) => Some(pass(&args, &bin_dir, provider, Some(latency.clone()), None).await?),
            None => None,
        };
        passes.push(ProviderPasses { provider, zero, slow });
    }
    let isolation = if args.other_provider_timing_out {
        let latency = args.provider_latency.clone();
        let mockpay = BenchProvider::Mockpay;
        let healthy =
            pass(&args, &bin_dir, mockpay, latency.clone(), Some(services::SecondProvider::Healthy)).await?;
        let timing_out =
            pass(&args, &bin_dir, mockpay, latency, Some(services::SecondProvider::TimingOut)).await?;
        Some((healthy, timing_out))
    } else {
        None
    };

    let floor = match floor_bin {
        None => None,
        Some(bin) => Some(
            floor::run(&floor::FloorRun {
                bin,
                queue_type: "quorum".into(),
                count: args.floor_count,
                consumers: args.floor_consumers,
                prefetch: args.floor_prefetch,
                pool: args.floor_pool,
                max_secs: 180,
            })
            .await?,
        ),
    };

    let named = args.names_providers();
    // " <provider>" in the labels and summary lines of a run that names its providers.
    let tag = |p: BenchProvider| if named { format!(" {}", p.name()) } else { String::new() };
    let spec = args.provider_latency.as_ref().map(latency::show);
    for p in &passes {
        report(&args, &format!("paygate{}", tag(p.provider)), p.provider, &p.zero);
        if let (Some(slow), Some(spec)) = (&p.slow, &spec) {
            report(&args, &format!("paygate{} (provider latency {spec})", tag(p.provider)), p.provider, slow);
        }
    }
    let with_latency = spec.as_ref().map_or_else(String::new, |spec| format!(", provider latency {spec}"));
    if let Some((healthy, timing_out)) = &isolation {
        let other = services::SECOND_PROVIDER;
        let mockpay = BenchProvider::Mockpay;
        report(&args, &format!("paygate ({other} healthy{with_latency})"), mockpay, healthy);
        report(&args, &format!("paygate ({other} timing out{with_latency})"), mockpay, timing_out);
    }
    if let Some(f) = &floor {
        println!("floor: {}", f.result_line);
        if let Some(steps) = &f.steps_line {
            println!("floor: {steps}");
        }
    }
    for p in &passes {
        if let (Some(slow), Some(spec)) = (&p.slow, &spec) {
            println!(
                "latency{}: {} payments/s with {spec} per call, {} of zero latency, p99: {} ms",
                tag(p.provider),
                rate(slow).show(1),
                rate(slow).ratio(rate(&p.zero)).show(2),
                p99(slow)
            );
        }
    }
    if let Some((healthy, timing_out)) = &isolation {
        println!(
            "isolation: mockpay {} payments/s with {} timing out on every call, {} with it healthy: {} of its normal, p99: {} ms",
            rate(timing_out).show(1),
            services::SECOND_PROVIDER,
            rate(healthy).show(1),
            rate(timing_out).ratio(rate(healthy)).show(2),
            p99(timing_out)
        );
    }
    if args.via == http_upstream::Via::Http {
        for p in &passes {
            let d = &p.zero.driven;
            let created = Milli::rate(d.create_latency.len() as u64, d.last_create_us);
            let ratio =
                floor.as_ref().map_or_else(|| "-".to_owned(), |f| created.ratio(f.payments_per_sec).show(2));
            let answer = d.create_latency.summary();
            let ms = |f: fn(&stats::Summary) -> u64| {
                answer.as_ref().map_or_else(|| "-".to_owned(), |s| Millis(f(s)).to_string())
            };
            println!(
                "http{}: {} creates/s over HTTP, ratio: {ratio}, create answer p50: {} ms, p99: {} ms{}",
                tag(p.provider),
                created.show(1),
                ms(|s| s.p50_us),
                ms(|s| s.p99_us),
                args.rate.map_or_else(String::new, |r| format!(" (sent at {r}/s)"))
            );
        }
    }
    for p in &passes {
        let e2e = rate(&p.zero);
        let (floor_part, ratio) = match &floor {
            Some(f) => {
                (format!("{} payments/s", f.payments_per_sec.show(0)), e2e.ratio(f.payments_per_sec).show(2))
            }
            None => ("skipped".to_owned(), "-".to_owned()),
        };
        let p50_part = if named { format!(", p50: {} ms", p50(&p.zero)) } else { String::new() };
        println!(
            "e2e{}: {} payments/s, floor: {floor_part}, ratio: {ratio}{p50_part}, p99: {} ms",
            tag(p.provider),
            e2e.show(1),
            p99(&p.zero)
        );
    }
    let all = passes.iter().flat_map(|p| {
        std::iter::once((p.provider, "zero latency", &p.zero))
            .chain(p.slow.iter().map(move |s| (p.provider, "latency", s)))
    });
    let isolated = isolation.iter().flat_map(|(h, t)| {
        [
            (BenchProvider::Mockpay, "second provider healthy", h),
            (BenchProvider::Mockpay, "second provider timing out", t),
        ]
    });
    for (provider, name, pass) in all.chain(isolated) {
        if pass.driven.timed_out {
            bail!(
                "the {} {name} run timed out after {} s: {} of {} payments complete",
                provider.name(),
                args.max_secs,
                pass.driven.payments_final,
                args.count - pass.driven.second_sent
            );
        }
    }
    let providers = passes
        .iter()
        .map(|p| {
            let ratio = floor.as_ref().map(|f| rate(&p.zero).ratio(f.payments_per_sec));
            let latency = p.slow.as_ref().map(|s| rate(s).ratio(rate(&p.zero)));
            (p.provider, ratio, latency)
        })
        .collect();
    let isolation = isolation.as_ref().map(|(healthy, timing_out)| rate(timing_out).ratio(rate(healthy)));
    Ok(Headline { providers, isolation })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_repeatable_or_comma_separated_and_default_to_mockpay() {
        let parse = |args: &[&str]| BenchArgs::try_parse_from([&["paygate-bench"], args].concat());
        let default = parse(&[]).unwrap();
        assert_eq!(default.providers(), [BenchProvider::Mockpay]);
        assert!(!default.names_providers());
        let listed = parse(&["--providers", "alipay,wechatpay", "--provider", "alipay"]).unwrap();
        assert_eq!(listed.providers(), [BenchProvider::Alipay, BenchProvider::Wechatpay]);
        assert!(listed.names_providers());
        let repeated = parse(&["--provider", "wechatpay", "--provider", "mockpay"]).unwrap();
        assert_eq!(repeated.providers(), [BenchProvider::Wechatpay, BenchProvider::Mockpay]);
        assert!(parse(&["--provider", "paypal"]).is_err());
        assert_eq!(default.repeat, 1);
        assert!(parse(&["--repeat", "0"]).is_err());
    }

    #[test]
    fn medians_are_of_every_round_per_provider() {
        let args = BenchArgs::try_parse_from(["paygate-bench", "--repeat", "3"]).unwrap();
        let m = |x: u64| Some(Milli(x));
        let round = |ratio, latency, isolation| Headline {
            providers: vec![(BenchProvider::Mockpay, m(ratio), m(latency))],
            isolation: Some(Milli(isolation)),
        };
        let rounds = vec![round(410, 900, 1020), round(620, 740, 740), round(530, 820, 860)];
        assert_eq!(
            medians(&args, &rounds),
            [
                "median of 3: e2e: ratio 0.53 (0.41, 0.62, 0.53)",
                "median of 3: latency: 0.82 of zero latency (0.90, 0.74, 0.82)",
                "median of 3: isolation: 0.86 of its normal (1.02, 0.74, 0.86)"
            ]
        );
    }
}
