//! Where a simulator listens: its bound socket, and the base URL its pages, QR codes, bill links
//! and notifications name (the public URL it was given, else its own address, with an unspecified
//! IP read as 127.0.0.1).

use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A bound simulator socket.
pub struct Listening {
    pub listener: TcpListener,
    /// The address bound (a port of 0 becomes the free port chosen).
    pub addr: SocketAddr,
    /// `http://…` without a trailing slash.
    pub base_url: String,
}

/// Binds `addr`; `public_url` (if any) is the base URL others reach the simulator by.
pub async fn bind(addr: SocketAddr, public_url: Option<&str>) -> std::io::Result<Listening> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let base_url = match public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        None => format!("http://{addr}"),
    };
    Ok(Listening { listener, addr, base_url })
}
