//! Test helpers shared by every paygate test suite.
//!
//! Tests talk to the real PostgreSQL and RabbitMQ. To run in parallel and leave nothing behind,
//! each test takes its own [`TestDb`] (a fresh database) and its own [`TestVhost`] (a fresh
//! RabbitMQ virtual host); both are removed again when dropped. [`eventually`] replaces sleeps:
//! it polls a condition until a deadline.

mod database;
mod poll;
mod private_postgres;
mod process;
mod rabbit_cluster;
pub mod service_checks;
mod tcp_proxy;
mod vhost;

pub use database::TestDb;
pub use poll::{eventually, eventually_some};
pub use private_postgres::PrivatePostgres;
pub use process::{Finished, ServiceProcess, run_to_exit, workspace_binary};
pub use rabbit_cluster::{ClusterNode, RabbitCluster};
pub use tcp_proxy::TcpProxy;
pub use vhost::{TestVhost, split_credentials};

/// A TCP port on 127.0.0.1 that is free now (for a private server or a service's fixed port).
///
/// Never the same port twice in one process: the kernel may hand a port that was just released
/// out again, and two services of one test given the same port would have one of them fail to
/// listen while the other answers its health checks (the chaos run saw exactly that).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

#[cfg(test)]
mod free_port_tests {
    #[test]
    fn a_port_is_never_given_twice() {
        let mut ports: Vec<u16> = (0..200).map(|_| super::free_port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 200);
    }
}
