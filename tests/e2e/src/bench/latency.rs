//! `--provider-latency`: how long the provider's simulator (mockpay, alipaysim, wechatpaysim)
//! takes to answer each call in the bench's latency pass, as their fault core takes it
//! ([`simkit::Latency`]).
//!
//! - `FIXED[+JITTER]`, in milliseconds: `400` (always 400 ms), `300+200` (300 to 500 ms,
//!   uniform);
//! - percentiles, `pNN=MS` separated by commas, ascending, ending with `p100`:
//!   `p50=300,p99=900,p100=1500` (half the calls take at most 300 ms, interpolated between points).

use simkit::{Latency, LatencyPoint, PPM};

/// Parses a latency spec (see the module's doc).
pub fn parse(s: &str) -> Result<Latency, String> {
    let s = s.trim();
    if s.starts_with('p') {
        return percentiles(s);
    }
    let (fixed, jitter) = s.split_once('+').unwrap_or((s, "0"));
    let ms = |part: &str, what: &str| {
        part.trim().parse::<u64>().map_err(|_| {
            format!("--provider-latency: the {what} must be a whole number of milliseconds (got {part:?} in {s:?}); \
                     expected FIXED[+JITTER] like 300+200, or percentiles like p50=300,p100=900")
        })
    };
    Ok(Latency {
        fixed_ms: ms(fixed, "fixed part")?,
        jitter_ms: ms(jitter, "jitter")?,
        percentiles: Vec::new(),
    })
}

fn percentiles(s: &str) -> Result<Latency, String> {
    let mut points = Vec::new();
    for part in s.split(',') {
        let bad = || format!("--provider-latency: expected pNN=MS such as p99=900 (got {part:?} in {s:?})");
        let (p, ms) = part.trim().strip_prefix('p').and_then(|r| r.split_once('=')).ok_or_else(bad)?;
        let pct: u32 = p.parse().ok().filter(|p| (1..=100).contains(p)).ok_or_else(bad)?;
        let ms: u64 = ms.parse().map_err(|_| bad())?;
        points.push(LatencyPoint { ppm: pct * (PPM / 100), ms });
    }
    if points.last().map(|p| p.ppm) != Some(PPM) {
        return Err(format!("--provider-latency: percentiles must end with p100 (got {s:?})"));
    }
    if points.windows(2).any(|w| w[0].ppm >= w[1].ppm || w[0].ms > w[1].ms) {
        return Err(format!(
            "--provider-latency: percentiles must ascend, and their milliseconds must not fall (got {s:?})"
        ));
    }
    Ok(Latency { fixed_ms: 0, jitter_ms: 0, percentiles: points })
}

/// The spec again, for the report.
pub fn show(latency: &Latency) -> String {
    if latency.percentiles.is_empty() {
        return match latency.jitter_ms {
            0 => format!("{} ms", latency.fixed_ms),
            j => format!("{}-{} ms", latency.fixed_ms, latency.fixed_ms + j),
        };
    }
    let points: Vec<String> =
        latency.percentiles.iter().map(|p| format!("p{}={}ms", p.ppm / (PPM / 100), p.ms)).collect();
    points.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_and_jitter() {
        let l = parse("300+200").unwrap();
        assert_eq!((l.fixed_ms, l.jitter_ms), (300, 200));
        assert_eq!(show(&l), "300-500 ms");
        assert_eq!(parse("400").unwrap().jitter_ms, 0);
    }

    #[test]
    fn percentiles_become_ppm_points() {
        let l = parse("p50=300,p99=900,p100=1500").unwrap();
        assert_eq!(
            l.percentiles.iter().map(|p| (p.ppm, p.ms)).collect::<Vec<_>>(),
            [(500_000, 300), (990_000, 900), (1_000_000, 1500)]
        );
        assert_eq!(show(&l), "p50=300ms,p99=900ms,p100=1500ms");
    }

    #[test]
    fn bad_specs_name_the_rule() {
        assert!(parse("fast").unwrap_err().contains("whole number of milliseconds"));
        assert!(parse("300+x").unwrap_err().contains("jitter"));
        assert!(parse("p50=300").unwrap_err().contains("end with p100"));
        assert!(parse("p90=300,p50=400,p100=500").unwrap_err().contains("ascend"));
        assert!(parse("p0=1,p100=2").unwrap_err().contains("pNN=MS"));
    }
}
