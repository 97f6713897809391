//! deploy/ as people will run it: the compose file against the Compose Specification's schema and
//! the Kubernetes manifests against the Kubernetes API schemas (the pinned checkers of
//! deploy/check-tools.txt, installed by scripts/test into target/deploy-tools), and what the
//! schemas cannot see: the compose stack is the production shape (a three-node RabbitMQ cluster
//! that loads the definitions at boot, two dispatchers, Prometheus with the rules, Grafana with
//! the dashboard), every file it mounts exists, and kustomize lists every manifest.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// A checker from target/deploy-tools. Missing: a failure under CI (the suite must check), a loud
/// skip elsewhere (`scripts/test` installs it; `cargo nextest` alone may not have).
fn tool(name: &str) -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("deploy-tools/bin").join(name);
    if path.exists() {
        return Some(path);
    }
    let hint = "run scripts/test, or `. scripts/lib/deploy_tools.sh; ensure_deploy_tools`";
    if std::env::var_os("CI").is_some() {
        panic!("{} is missing: {hint}", path.display());
    }
    eprintln!("SKIPPED: {} is missing ({hint})", path.display());
    None
}

fn run(tool: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool).args(args).current_dir(deploy()).output().expect("run the checker");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The first document of a YAML file, with its merge keys (`<<: *anchor`) applied.
fn yaml(path: &Path) -> Value {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let first = serde_norway::Deserializer::from_str(&text).next().expect("a YAML document");
    let mut value = Value::deserialize(first).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    value.apply_merge().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    value
}

fn compose() -> Value {
    yaml(&deploy().join("compose.yaml"))
}

#[test]
fn the_compose_file_matches_the_compose_specification() {
    let Some(check) = tool("check-jsonschema") else { return };
    let (ok, text) = run(&check, &["--builtin-schema", "vendor.compose-spec", "compose.yaml"]);
    assert!(ok, "deploy/compose.yaml:\n{text}");
    // The checker does fail: a service with a key the specification does not have.
    let bad = std::env::temp_dir().join(format!("paygate-bad-compose-{}.yaml", std::process::id()));
    std::fs::write(&bad, "services:\n  a:\n    image: x\n    replica: 2\n").unwrap();
    let (ok, text) = run(&check, &["--builtin-schema", "vendor.compose-spec", bad.to_str().unwrap()]);
    let _ = std::fs::remove_file(&bad);
    assert!(!ok && text.contains("replica"), "a wrong key must be refused:\n{text}");
}

#[test]
fn the_kubernetes_manifests_match_the_kubernetes_schemas_strictly() {
    let Some(validate) = tool("kubernetes-validate") else { return };
    let kustomization = yaml(&deploy().join("k8s/kustomization.yaml"));
    let resources: Vec<&str> =
        kustomization["resources"].as_sequence().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    // Every manifest in the folder is in the kustomization, and every entry exists.
    let mut files: Vec<String> = std::fs::read_dir(deploy().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    files.sort();
    let mut listed: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "deploy/k8s/kustomization.yaml must list every manifest");
    for file in &resources {
        let (ok, text) = run(&validate, &["--strict", "--quiet", &format!("k8s/{file}")]);
        assert!(ok && text.trim().is_empty(), "deploy/k8s/{file}:\n{text}");
    }
    // The validator does fail, strictly: an unknown field.
    let bad = std::env::temp_dir().join(format!("paygate-bad-k8s-{}.yaml", std::process::id()));
    std::fs::write(&bad, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  retries: 3\n  template: {spec: {containers: [{name: x, image: x}], restartPolicy: Never}}\n").unwrap();
    let (ok, text) = run(&validate, &["--strict", "--quiet", bad.to_str().unwrap()]);
    let _ = std::fs::remove_file(&bad);
    assert!(!ok, "an unknown field must be refused:\n{text}");
}

#[test]
fn the_kubernetes_manifests_say_what_the_services_do_now() {
    let k8s = deploy().join("k8s");
    let dispatcher = std::fs::read_to_string(k8s.join("provider-dispatcher.yaml")).unwrap();
    assert!(!dispatcher.contains("stand by"), "dispatchers share the shards by leases; none stands by");
    assert!(dispatcher.contains("leases"), "{dispatcher}");
    let scheduler = yaml(&k8s.join("compensation-scheduler.yaml"));
    assert!(scheduler["spec"]["replicas"].as_u64().unwrap() >= 2, "schedulers coordinate: run two");
    // Providers come from the registry (README, "Providers"); the topology is declared before a
    // rollout.
    let config = std::fs::read_to_string(k8s.join("config.yaml")).unwrap();
    assert!(config.contains("PROVIDERS:") && config.contains("PAYGATE_PROVIDER_"), "{config}");
    let job = std::fs::read_to_string(k8s.join("topology-job.yaml")).unwrap();
    assert!(job.contains(r#"["payctl", "topology", "declare"]"#), "{job}");
}

#[test]
fn compose_runs_the_production_shape() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().map(|k| k.as_str().unwrap()).collect();
    for needed in [
        "postgres",
        "rabbitmq",
        "rabbitmq-2",
        "rabbitmq-3",
        "mockpay",
        "ingest",
        "provider-dispatcher-1",
        "provider-dispatcher-2",
        "notify-handler",
        "compensation-scheduler",
        "prometheus",
        "grafana",
    ] {
        assert!(names.contains(&needed), "deploy/compose.yaml has no {needed}: {names:?}");
    }
    // The services know every node of the cluster.
    let amqp = compose["services"]["ingest"]["environment"]["AMQP_URL"].as_str().unwrap();
    for node in ["@rabbitmq:5672", "@rabbitmq-2:5672", "@rabbitmq-3:5672"] {
        assert!(amqp.contains(node), "AMQP_URL lacks {node}: {amqp}");
    }
    // The nodes form one cluster and load paygate's definitions at boot, from the folder they
    // are mounted in.
    let conf = std::fs::read_to_string(deploy().join("rabbitmq/rabbitmq.conf")).unwrap();
    for node in ["rabbit@rabbitmq\n", "rabbit@rabbitmq-2\n", "rabbit@rabbitmq-3\n"] {
        assert!(conf.contains(node), "rabbitmq.conf does not list {node:?}");
    }
    let definitions_dir = conf
        .lines()
        .find_map(|l| l.strip_prefix("definitions.local.path = "))
        .expect("rabbitmq.conf loads definitions");
    for name in ["rabbitmq", "rabbitmq-2", "rabbitmq-3"] {
        let node = &compose["services"][name];
        assert_eq!(node["hostname"].as_str(), Some(name), "the node name follows the hostname");
        let volumes: Vec<&str> =
            node["volumes"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let mounted =
            |source: &str| volumes.iter().any(|v| v.starts_with(&format!("{source}:{definitions_dir}/")));
        assert!(mounted("./rabbitmq/definitions.json"), "{name}: definitions not in {definitions_dir}");
        assert!(mounted("./rabbitmq/dev-users.json"), "{name}: no user would exist");
    }
    let users: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy().join("rabbitmq/dev-users.json")).unwrap())
            .unwrap();
    assert_eq!(users["permissions"][0]["vhost"], "/");
}

#[test]
fn every_file_compose_mounts_exists() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let Some(volumes) = service["volumes"].as_sequence() else { continue };
        for volume in volumes {
            let volume = volume.as_str().unwrap();
            let source = volume.split(':').next().unwrap();
            if source.starts_with("./") {
                assert!(
                    deploy().join(source).exists(),
                    "{}: mounts {source}, which is not in deploy/",
                    name.as_str().unwrap()
                );
            }
        }
    }
}

#[test]
fn compose_runs_a_trace_backend_the_services_export_to() {
    let compose = compose();
    let jaeger = &compose["services"]["jaeger"];
    assert_eq!(jaeger["environment"]["COLLECTOR_OTLP_ENABLED"].as_str(), Some("true"), "{jaeger:?}");
    for service in [
        "ingest",
        "provider-dispatcher-1",
        "provider-dispatcher-2",
        "notify-handler",
        "compensation-scheduler",
    ] {
        let endpoint = compose["services"][service]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"].as_str();
        assert_eq!(endpoint, Some("http://jaeger:4318"), "{service} exports to Jaeger's OTLP/HTTP port");
    }
}
