//! The client's network address, for throttling and audit. From the TCP peer (when the server
//! was started with connect info), or — only where configured, behind a proxy that sets it —
//! from the last `X-Forwarded-For` entry, which is the address that proxy saw.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// The peer address and the forwarded-for header, unresolved; [`ClientAddr::ip`] decides.
#[derive(Debug, Clone)]
pub struct ClientAddr {
    peer: Option<IpAddr>,
    forwarded: Option<IpAddr>,
}

impl ClientAddr {
    /// The client's address: the forwarded one when `trust_forwarded_for`, else the peer.
    pub fn ip(&self, trust_forwarded_for: bool) -> Option<IpAddr> {
        if trust_forwarded_for { self.forwarded.or(self.peer) } else { self.peer }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

impl ClientAddr {
    /// The addresses of the request these parts belong to.
    pub fn of(parts: &Parts) -> Self {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|last| last.trim().parse().ok());
        Self { peer, forwarded }
    }
}
