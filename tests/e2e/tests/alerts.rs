//! The alert rules (`deploy/prometheus/alerts.yml`) checked as CI checks them: `promtool check
//! rules` and `promtool check config` on them, `promtool test rules` on their unit tests
//! (`alerts_test.yml`); and what ties them to the rest: every alert has a firing test case, a
//! runbook at its `runbook_url` (`docs/runbooks/<alert>.md`) naming dashboard panels that exist in
//! `deploy/dashboards/paygate.json`, every metric it reads is on some panel, and every `paygate_`
//! metric it reads is registered by the code.
//!
//! promtool comes from Debian's `prometheus` package (`scripts/lib/promtool.sh`, run by
//! `scripts/test`). Without it the promtool tests fail under CI (`CI=true`), and elsewhere skip
//! with a loud message.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Runs promtool with `args` in deploy/prometheus and fails with its output unless it succeeds.
/// Returns false (after saying so loudly) when promtool is missing and this is not CI.
fn promtool(args: &[&str]) -> bool {
    let dir = root().join("deploy/prometheus");
    let output = match Command::new("promtool").args(args).current_dir(&dir).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let message = "promtool is not installed, so the alert rules were NOT checked. Install Debian's \
                           `prometheus` package (scripts/test does: scripts/lib/promtool.sh) and run this again";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
            return false;
        }
        Err(e) => panic!("running promtool: {e}"),
    };
    assert!(
        output.status.success(),
        "promtool {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    true
}

#[test]
fn promtool_checks_the_rules_and_the_config_that_loads_them() {
    if promtool(&["check", "rules", "alerts.yml"]) {
        promtool(&["check", "config", "prometheus.yml"]);
        // deploy/compose.yaml's Prometheus: the same rules, the compose services' names.
        promtool(&["check", "config", "prometheus-compose.yml"]);
    }
}

#[test]
fn promtool_unit_tests_of_the_alerts_pass() {
    promtool(&["test", "rules", "alerts_test.yml"]);
}

/// One alert rule: its name, expression and annotations.
struct Alert {
    name: String,
    expr: String,
    runbook_url: String,
}

fn alerts() -> Vec<Alert> {
    let rules: serde_norway::Value =
        serde_norway::from_str(&read("deploy/prometheus/alerts.yml")).expect("alerts.yml");
    let mut alerts = Vec::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let Some(name) = rule["alert"].as_str() else { continue };
            alerts.push(Alert {
                name: name.to_owned(),
                expr: rule["expr"].as_str().expect("expr").to_owned(),
                runbook_url: rule["annotations"]["runbook_url"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    assert!(alerts.len() >= 9, "alerts.yml has the nine alerts of issue 17: {}", alerts.len());
    alerts
}

/// The dashboard's panels: (title, every expression).
fn panels() -> Vec<(String, Vec<String>)> {
    let dashboard: Value =
        serde_json::from_str(&read("deploy/dashboards/paygate.json")).expect("paygate.json is JSON");
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| {
            let title = p["title"].as_str().expect("a panel has a title").to_owned();
            let exprs = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["expr"].as_str().map(str::to_owned))
                .collect();
            (title, exprs)
        })
        .collect()
}

/// The metric names an expression reads (`paygate_…`, `rabbitmq_…`).
fn metrics_of(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("paygate_") || w.starts_with("rabbitmq_"))
        .map(str::to_owned)
        .collect()
}

/// The quoted titles on a runbook's `**Dashboard panel**:` paragraph.
fn panels_named_by(runbook: &str) -> Vec<String> {
    let Some(start) = runbook.find("**Dashboard panel**:") else { return Vec::new() };
    let paragraph = runbook[start..].split("\n\n").next().unwrap_or_default();
    paragraph
        .split('"')
        .skip(1)
        .step_by(2)
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn every_alert_has_a_runbook_that_names_panels_of_the_dashboard() {
    let titles: BTreeSet<String> = panels().into_iter().map(|(t, _)| t).collect();
    for alert in alerts() {
        let expected = format!("docs/runbooks/{}.md", alert.name);
        assert_eq!(alert.runbook_url, expected, "{}: runbook_url", alert.name);
        let runbook = read(&expected);
        assert!(
            runbook.starts_with(&format!("# {}\n", alert.name)),
            "{expected} is titled with the alert's name"
        );
        for section in ["## What it means", "## How to see it", "## What to do", "## What never to do"] {
            assert!(runbook.contains(section), "{expected} has a section {section:?}");
        }
        assert!(
            runbook.contains("payctl") || runbook.contains("rabbitmqctl"),
            "{expected} says which command shows it"
        );
        let named = panels_named_by(&runbook);
        assert!(!named.is_empty(), "{expected} names its dashboard panel on a `**Dashboard panel**:` line");
        for title in named {
            assert!(
                titles.contains(&title),
                "{expected} names the panel {title:?}, which paygate.json does not have: {titles:?}"
            );
        }
    }
}

#[test]
fn every_runbook_belongs_to_an_alert() {
    let names: BTreeSet<String> = alerts().into_iter().map(|a| format!("{}.md", a.name)).collect();
    for entry in std::fs::read_dir(root().join("docs/runbooks")).expect("docs/runbooks") {
        let file = entry.expect("an entry").file_name().into_string().expect("a UTF-8 name");
        assert!(file == "README.md" || names.contains(&file), "docs/runbooks/{file} belongs to no alert");
    }
}

#[test]
fn every_metric_an_alert_reads_is_on_a_dashboard_panel() {
    let on_panels: BTreeSet<String> =
        panels().iter().flat_map(|(_, exprs)| exprs.iter().flat_map(|e| metrics_of(e))).collect();
    for alert in alerts() {
        let metrics = metrics_of(&alert.expr);
        assert!(!metrics.is_empty(), "{}: no metric found in {:?}", alert.name, alert.expr);
        for metric in metrics {
            assert!(on_panels.contains(&metric), "{}: {metric} is on no panel of paygate.json", alert.name);
        }
    }
}

/// Every `.rs` file's text under `dir`.
fn sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).expect("a source file"));
        }
    }
}

#[test]
fn every_paygate_metric_an_alert_reads_is_registered_by_the_code() {
    let mut code = String::new();
    sources(&root().join("shared/src"), &mut code);
    for service in std::fs::read_dir(root().join("services")).expect("services") {
        sources(&service.expect("a service").path().join("src"), &mut code);
    }
    for alert in alerts() {
        for metric in metrics_of(&alert.expr).into_iter().filter(|m| m.starts_with("paygate_")) {
            // Registered without the registry's `paygate_` prefix; counters gain `_total` when encoded.
            let name = metric.trim_start_matches("paygate_");
            let name = name.strip_suffix("_total").unwrap_or(name);
            assert!(
                code.contains(&format!("\"{name}\"")),
                "{}: {metric} is not registered anywhere in shared/src or services/*/src (looked for \"{name}\")",
                alert.name
            );
        }
    }
}

#[test]
fn every_alert_has_a_unit_test_where_it_fires() {
    let tests: serde_norway::Value =
        serde_norway::from_str(&read("deploy/prometheus/alerts_test.yml")).expect("alerts_test.yml");
    let mut fired = BTreeSet::new();
    for case in tests["tests"].as_sequence().expect("tests") {
        for check in case["alert_rule_test"].as_sequence().into_iter().flatten() {
            if check["exp_alerts"].as_sequence().is_some_and(|a| !a.is_empty()) {
                fired.insert(check["alertname"].as_str().expect("alertname").to_owned());
            }
        }
    }
    for alert in alerts() {
        assert!(fired.contains(&alert.name), "alerts_test.yml has no case where {} fires", alert.name);
    }
}
