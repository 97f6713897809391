//! The topology as a RabbitMQ definitions file.
//!
//! [`render`] produces the JSON the management plugin imports (`POST /api/definitions/{vhost}`,
//! `rabbitmqctl import_definitions`, or `load_definitions` in rabbitmq.conf), generated from the
//! same [`Topology`] value that [`Topology::declare`] declares: operators can review, diff and
//! pre-provision exactly what the services would declare. The output is deterministic: objects
//! sorted by name, keys sorted, pretty-printed.
//!
//! Checked on RabbitMQ 3.10.8: importing the file into a vhost creates objects that a later
//! [`Topology::declare`] finds equivalent (no PRECONDITION_FAILED), integers and booleans
//! included.

use serde_json::{Map, Value, json};

use super::topology::{Arguments, Topology};

fn arguments(args: &Arguments) -> Value {
    Value::Object(args.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<Map<_, _>>())
}

/// The definitions of `topology` in virtual host `vhost`.
pub fn definitions(topology: &Topology, vhost: &str) -> Value {
    let mut exchanges: Vec<_> = topology.exchanges().iter().collect();
    exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    let mut queues: Vec<_> = topology.queues().iter().collect();
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    let mut bindings: Vec<_> = topology.bindings().iter().collect();
    bindings.sort_by(|a, b| {
        (&a.source, &a.destination, &a.routing_key).cmp(&(&b.source, &b.destination, &b.routing_key))
    });
    json!({
        "vhosts": [{ "name": vhost }],
        "exchanges": exchanges.iter().map(|e| json!({
            "name": e.name,
            "vhost": vhost,
            "type": e.kind.as_str(),
            "durable": true,
            "auto_delete": false,
            "internal": false,
            "arguments": arguments(&e.arguments),
        })).collect::<Vec<_>>(),
        "queues": queues.iter().map(|q| json!({
            "name": q.name,
            "vhost": vhost,
            "durable": true,
            "auto_delete": false,
            "arguments": arguments(&q.arguments),
        })).collect::<Vec<_>>(),
        "policies": [dead_letter_policy(topology, vhost)],
        "bindings": bindings.iter().map(|b| json!({
            "source": b.source,
            "vhost": vhost,
            "destination": b.destination,
            "destination_type": "queue",
            "routing_key": b.routing_key,
            "arguments": arguments(&b.arguments),
        })).collect::<Vec<_>>(),
    })
}

/// A policy that takes the delivery limit off the `.dlq` queues. Reading a dead letter
/// (`payctl dlq show`) hands it back, and every hand-back counts as a delivery; RabbitMQ 4.x gives
/// quorum queues a default limit of 20 and would drop a dead letter after twenty looks. A policy,
/// not a queue argument: arguments are fixed at declaration, so changing one on a running broker
/// makes every service's declaration fail (PRECONDITION_FAILED), while a policy applies to
/// queues that already exist. `i32::MAX` because 3.x does not take 4.x's `-1`.
fn dead_letter_policy(topology: &Topology, vhost: &str) -> Value {
    let prefix = regex_escape(&topology.config().prefix);
    json!({
        "vhost": vhost,
        "name": format!("{}-dead-letters", topology.config().prefix),
        "pattern": format!("^{prefix}\\..+\\.dlq$"),
        "apply-to": "queues",
        "priority": 0,
        "definition": { "delivery-limit": i32::MAX },
    })
}

/// `s` with the characters a regular expression treats specially escaped (a prefix is
/// `A-Z a-z 0-9 - _`, none of which is, but the pattern must not depend on that).
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_ascii_alphanumeric() || c == '_' { vec![c] } else { vec!['\\', c] })
        .collect()
}

/// [`definitions`] as pretty-printed JSON with a final newline.
pub fn render(topology: &Topology, vhost: &str) -> String {
    let mut out =
        serde_json::to_string_pretty(&definitions(topology, vhost)).expect("JSON values always serialise");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::topology::TopologyConfig;

    #[test]
    fn rendering_is_deterministic_and_complete() {
        let t = Topology::default();
        let a = render(&t, "/");
        assert_eq!(a, render(&Topology::new(TopologyConfig::default()).unwrap(), "/"));
        let v: Value = serde_json::from_str(&a).unwrap();
        let names = |key: &str| -> Vec<String> {
            v[key].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect()
        };
        let queues = names("queues");
        assert_eq!(queues.len(), t.queues().len());
        for q in t.queues() {
            assert!(queues.contains(&q.name), "{} missing", q.name);
        }
        let mut sorted = queues.clone();
        sorted.sort();
        assert_eq!(queues, sorted);
        assert_eq!(names("exchanges").len(), 5);
        assert_eq!(v["bindings"].as_array().unwrap().len(), t.bindings().len());
        let shard =
            v["queues"].as_array().unwrap().iter().find(|q| q["name"] == "paygate.orders.shard.0").unwrap();
        assert_eq!(shard["arguments"]["x-delivery-limit"], 10);
        assert_eq!(shard["arguments"]["x-single-active-consumer"], true);
        assert_eq!(shard["arguments"]["x-queue-type"], "quorum");
        let orders =
            v["exchanges"].as_array().unwrap().iter().find(|e| e["name"] == "paygate.orders").unwrap();
        assert_eq!(orders["type"], "x-consistent-hash");
        assert_eq!(orders["arguments"]["hash-header"], "order-key");
    }
}
