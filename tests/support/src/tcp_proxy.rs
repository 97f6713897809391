//! A TCP proxy a test can cut: services under test connect to PostgreSQL or RabbitMQ through it,
//! and the test takes the server "down" (every connection dropped, new ones refused) and brings
//! it back, without touching the real server that other tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped on every cut; each forwarding task ends when it changes.
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) that forwards to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let generation = watch::Sender::new(0u64);
        let (accept_up, accept_gen) = (up.clone(), generation.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::Acquire) {
                    drop(client); // refused: the "server" is down
                    continue;
                }
                let mut cut = accept_gen.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else { return };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, generation, task }
    }

    /// The address to give the service instead of the server's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server goes "down": open connections are dropped and new ones are closed at once.
    pub fn cut(&self) {
        self.up.store(false, Ordering::Release);
        self.generation.send_modify(|g| *g += 1);
    }

    /// The server is "back": new connections are forwarded again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::Release);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
