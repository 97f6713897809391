//! CPU accounting from /proc, so a run can say where the time went: the CPU each group of
//! processes used between two snapshots (the bench itself with its in-process simulator, named
//! after it: `bench+mockpay`, `bench+alipaysim`, `bench+wechatpaysim`; each paygate service;
//! PostgreSQL, RabbitMQ, everything else on the machine, and idle).
//! Linux only; elsewhere every figure reads 0.

use std::collections::HashMap;

/// Ticks (1/100 s) per group.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    ticks: HashMap<String, u64>,
}

/// The group of the bench's own process.
const BENCH: &str = "bench";

/// Groups processes: the bench, the named service pids, `postgres`, `rabbitmq` (beam.smp and
/// its helpers), `other`; plus `idle` from /proc/stat.
pub fn snapshot(services: &[(String, u32)]) -> Snapshot {
    let me = std::process::id();
    let mut ticks: HashMap<String, u64> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        let comm = head.split_once(" (").map_or("", |h| h.1);
        let fields: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
        let used = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        let group = if pid == me {
            BENCH.to_owned()
        } else if let Some((svc, _)) = services.iter().find(|(_, p)| *p == pid) {
            svc.clone()
        } else if comm == "postgres" {
            "postgres".to_owned()
        } else if matches!(comm, "beam.smp" | "erl_child_setup" | "inet_gethost" | "epmd") {
            "rabbitmq".to_owned()
        } else {
            "other".to_owned()
        };
        *ticks.entry(group).or_default() += used;
    }
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    ticks.insert("idle".into(), cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0));
    Snapshot { ticks }
}

/// CPU used per group between `a` and `b`: in % of one core over `elapsed_ms`, and in
/// microseconds per payment over `payments`. Groups in a fixed order: the bench (shown as
/// `bench+<simulator>`), the `services` in their order, then PostgreSQL, RabbitMQ, other, idle.
pub fn report(
    a: &Snapshot,
    b: &Snapshot,
    elapsed_ms: u64,
    payments: u64,
    simulator: &str,
    services: &[(String, u32)],
) -> String {
    let mut order = vec![BENCH];
    for (name, _) in services {
        if !order.contains(&name.as_str()) {
            order.push(name);
        }
    }
    order.extend(["postgres", "rabbitmq", "other", "idle"]);
    let mut parts = Vec::new();
    for group in order {
        let used =
            b.ticks.get(group).copied().unwrap_or(0).saturating_sub(a.ticks.get(group).copied().unwrap_or(0));
        let cpu_ms = used * 10;
        let pct = cpu_ms * 100 / elapsed_ms.max(1);
        if group == "idle" {
            parts.push(format!("{group}={pct}%"));
        } else if group == BENCH {
            parts
                .push(format!("{group}+{simulator}={pct}% ({} us/payment)", cpu_ms * 1000 / payments.max(1)));
        } else {
            parts.push(format!("{group}={pct}% ({} us/payment)", cpu_ms * 1000 / payments.max(1)));
        }
    }
    format!("cpu (% of one core; 2 cores = 200%): {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_is_named_after_its_simulator_and_every_service_has_its_column() {
        let ticks = |pairs: &[(&str, u64)]| Snapshot {
            ticks: pairs.iter().map(|(g, t)| ((*g).to_owned(), *t)).collect(),
        };
        let a = ticks(&[(BENCH, 0), ("notify-handler", 0), ("idle", 0)]);
        let b = ticks(&[(BENCH, 10), ("notify-handler", 20), ("idle", 5)]);
        let services = [("ingest".to_owned(), 1), ("notify-handler".to_owned(), 2), ("ingest".to_owned(), 3)];
        let line = report(&a, &b, 1000, 100, "wechatpaysim", &services);
        assert!(line.contains("bench+wechatpaysim=10% (1000 us/payment)"), "{line}");
        assert!(line.contains("ingest=0% (0 us/payment), notify-handler=20% (2000 us/payment)"), "{line}");
        assert_eq!(line.matches("ingest=").count(), 1, "{line}");
        assert!(line.ends_with("idle=5%"), "{line}");
    }
}
