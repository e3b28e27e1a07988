//! `ws://` and `wss://`: the WebSocket handshake that chooses a ZWS 2.0 subprotocol (RFC
//! 45), on tokio-tungstenite, and for wss the TLS under it, on rustls ([`tls_acceptor`],
//! [`tls_connector`], [`WsTransport`]).
//!
//! A ws endpoint listens and connects as tcp does ([`crate::bind`], [`crate::connect`]
//! give a tcp [`Stream`]); the engine then runs [`client_handshake`] or
//! [`server_handshake`] over that stream (after the monitor's CONNECTED or ACCEPTED, as
//! libzmq), and drives the ZWS connection (`zmtp_codec::zws`) over the [`WsStream`]'s
//! binary messages. Which subprotocol names which mechanism is the codec's
//! ([`zws::offer`], [`zws::select`]); the HTTP upgrade, masking and WebSocket framing are
//! tungstenite's.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use zmtp_codec::zws;

pub use tokio_rustls::{TlsAcceptor, TlsConnector};
pub use tokio_tungstenite::tungstenite::Error as WsError;
pub use tokio_tungstenite::tungstenite::Message as WsMessage;
pub use tokio_tungstenite::WebSocketStream;
pub use tokio_util::either::Either;

use crate::endpoint::{Host, WsEndpoint};
use crate::{Error, Stream};

/// A WebSocket over a connected stream: a `futures` `Stream` of [`WsMessage`]s and a `Sink`
/// for them.
pub type WsStream<S> = WebSocketStream<S>;

/// Options of the WebSocket layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WsOptions {
    /// The largest WebSocket message accepted, in bytes (a ZWS message is a frame plus its
    /// flags byte); `None` for no limit. Larger ones fail the connection before they are
    /// buffered whole.
    pub max_message_size: Option<usize>,
}

impl WsOptions {
    /// Options with this message size limit.
    pub fn max_message_size(mut self, max: Option<usize>) -> Self {
        self.max_message_size = max;
        self
    }

    fn config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(self.max_message_size)
            .max_frame_size(self.max_message_size)
    }
}

/// The client's half: sends the upgrade request for `endpoint` (its host and path) offering
/// the subprotocols of `mechanism` (`"NULL"`, `"PLAIN"`, `"CURVE"`), and returns the
/// WebSocket with the server's choice.
///
/// `secure` only names the scheme of the request (`wss`): TLS, if any, is already in
/// `stream`.
pub async fn client_handshake<S>(
    stream: S,
    endpoint: &WsEndpoint,
    secure: bool,
    mechanism: &str,
    options: &WsOptions,
) -> Result<(WsStream<S>, zws::Protocol), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let scheme = if secure { "wss" } else { "ws" };
    let url = format!("{scheme}://{endpoint}");
    let failed = |reason: String| Error::WebSocket {
        endpoint: url.clone(),
        reason,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| failed(e.to_string()))?;
    let offer = HeaderValue::from_str(&zws::offer(mechanism).join(", "))
        .map_err(|e| failed(e.to_string()))?;
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, offer);
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(options.config()))
            .await
            .map_err(|e| failed(e.to_string()))?;
    let chosen = response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let protocol = zws::Protocol::parse(chosen, mechanism).ok_or_else(|| {
        failed(format!(
            "the server chose no ZWS2.0 protocol for {mechanism}: {chosen:?}"
        ))
    })?;
    Ok((ws, protocol))
}

/// The server's half: reads the upgrade request, takes the first offered subprotocol that
/// `mechanism` speaks (any path is accepted, as libzmq's listener does), and answers 101; a
/// request without one is answered `400 Bad Request` and fails with [`Error::WebSocket`].
///
/// `peer` names the peer in errors.
pub async fn server_handshake<S>(
    stream: S,
    peer: &str,
    mechanism: &str,
    options: &WsOptions,
) -> Result<(WsStream<S>, zws::Protocol), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let chosen = std::sync::OnceLock::new();
    // The refusal's type is tungstenite's, large or not.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        let offered = request
            .headers()
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some((name, protocol)) = zws::select(offered, mechanism) else {
            let mut refusal = ErrorResponse::new(Some(format!(
                "no ZWS2.0 subprotocol for the {mechanism} mechanism\n"
            )));
            *refusal.status_mut() = StatusCode::BAD_REQUEST;
            return Err(refusal);
        };
        let value = HeaderValue::from_str(name).map_err(|_| ErrorResponse::new(None))?;
        response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, value);
        let _ = chosen.set(protocol);
        Ok(response)
    };
    let ws =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(options.config()))
            .await
            .map_err(|e| Error::WebSocket {
                endpoint: peer.to_owned(),
                reason: e.to_string(),
            })?;
    let protocol = chosen.get().copied().ok_or_else(|| Error::WebSocket {
        endpoint: peer.to_owned(),
        reason: "no subprotocol chosen".to_owned(),
    })?;
    Ok((ws, protocol))
}

/// What a ws or wss connection runs its WebSocket over: the tcp stream (`ws://`), or TLS
/// (rustls) on it (`wss://`).
pub type WsTransport = Either<Stream, Box<tokio_rustls::TlsStream<Stream>>>;

fn tls_error(endpoint: &str, reason: impl std::fmt::Display) -> Error {
    Error::Tls {
        endpoint: endpoint.to_owned(),
        reason: reason.to_string(),
    }
}

/// rustls on ring: it builds with a C compiler only (aws-lc-rs, rustls' default, wants more
/// of the build machine). Deprecated in rustls 0.23.3x for its lack of post-quantum key
/// exchange, which aws-lc-rs has; a choice to revisit.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A wss listener's TLS: the certificate chain and private key it presents, in PEM (libzmq's
/// `ZMQ_WSS_CERT_PEM` and `ZMQ_WSS_KEY_PEM`).
pub fn tls_acceptor(endpoint: &str, cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, Error> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(endpoint, format!("wss_cert_pem: {e}")))?;
    if chain.is_empty() {
        return Err(tls_error(endpoint, "wss_cert_pem holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| tls_error(endpoint, format!("wss_key_pem: {e}")))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(endpoint, e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_error(endpoint, e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A wss client's TLS: the certificates it trusts, in PEM (`ZMQ_WSS_TRUST_PEM`), and the
/// system's roots if `trust_system` (`ZMQ_WSS_TRUST_SYSTEM`). Trusting nothing is refused.
pub fn tls_connector(
    endpoint: &str,
    trust_pem: Option<&[u8]>,
    trust_system: bool,
) -> Result<TlsConnector, Error> {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = trust_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| tls_error(endpoint, format!("wss_trust_pem: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| tls_error(endpoint, format!("wss_trust_pem: {e}")))?;
        }
    }
    if trust_system {
        // Certificates the system store holds but rustls cannot parse are skipped.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
    }
    if roots.is_empty() {
        return Err(tls_error(
            endpoint,
            "no trusted certificate: set wss_trust_pem or wss_trust_system",
        ));
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(endpoint, e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The server's TLS handshake on an accepted tcp stream.
pub async fn tls_accept(
    acceptor: &TlsAcceptor,
    stream: Stream,
    peer: &str,
) -> Result<WsTransport, Error> {
    let tls = acceptor
        .accept(stream)
        .await
        .map_err(|e| tls_error(peer, e))?;
    Ok(Either::Right(Box::new(tls.into())))
}

/// The client's TLS handshake to `endpoint`, checking the server's certificate for
/// `hostname` (`ZMQ_WSS_HOSTNAME`), or else for the endpoint's host.
pub async fn tls_connect(
    connector: &TlsConnector,
    endpoint: &WsEndpoint,
    hostname: Option<&str>,
    stream: Stream,
) -> Result<WsTransport, Error> {
    let label = format!("wss://{endpoint}");
    let name = match (hostname, &endpoint.tcp.host) {
        (Some(name), _) => ServerName::try_from(name.to_owned()),
        (None, Host::Ip(ip)) => Ok(ServerName::IpAddress((*ip).into())),
        (None, Host::Name(name)) => ServerName::try_from(name.clone()),
        (None, Host::Any) => return Err(tls_error(&label, "no host name to check")),
    }
    .map_err(|e| tls_error(&label, e))?;
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| tls_error(&label, e))?;
    Ok(Either::Right(Box::new(tls.into())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures::{SinkExt, StreamExt};

    use super::*;

    fn endpoint() -> WsEndpoint {
        let crate::Endpoint::Ws(ws) = "ws://127.0.0.1:1/zmq".parse().unwrap() else {
            unreachable!()
        };
        ws
    }

    #[tokio::test]
    async fn the_client_offer_meets_the_server_choice() {
        let (a, b) = tokio::io::duplex(4096);
        let options = WsOptions::default();
        let ep = endpoint();
        let (client, server) = tokio::join!(
            client_handshake(a, &ep, false, "NULL", &options),
            server_handshake(b, "peer", "NULL", &options)
        );
        let ((mut client, cp), (mut server, sp)) = (client.unwrap(), server.unwrap());
        assert_eq!(
            (cp, sp),
            (zws::Protocol::Mechanism, zws::Protocol::Mechanism)
        );
        client
            .send(WsMessage::binary(&b"\x00hi"[..]))
            .await
            .unwrap();
        let got = server.next().await.unwrap().unwrap();
        assert_eq!(got.into_data(), &b"\x00hi"[..]);
    }

    #[tokio::test]
    async fn a_mechanism_the_server_does_not_speak_is_refused() {
        let (a, b) = tokio::io::duplex(4096);
        let options = WsOptions::default();
        let ep = endpoint();
        let (client, server) = tokio::join!(
            client_handshake(a, &ep, false, "NULL", &options),
            server_handshake(b, "peer", "PLAIN", &options)
        );
        assert!(matches!(client, Err(Error::WebSocket { .. })));
        assert!(matches!(server, Err(Error::WebSocket { .. })));
    }
}
