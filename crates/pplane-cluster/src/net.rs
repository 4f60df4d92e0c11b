//! Loopback ports: the clusters listen on 127.0.0.1 only.

use std::net::{Ipv4Addr, TcpListener};

/// A port that was free a moment ago. The server may still lose a race for it;
/// callers retry on a bind failure.
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// True when something already listens on (or holds) the port.
pub(crate) fn port_taken(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err()
}
