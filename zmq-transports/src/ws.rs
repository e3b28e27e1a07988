//! `ws://` (and the WebSocket half of `wss://`): the WebSocket handshake that chooses a ZWS
//! 2.0 subprotocol (RFC 45), on tokio-tungstenite.
//!
//! A ws endpoint listens and connects as tcp does ([`crate::bind`], [`crate::connect`]
//! give a tcp [`Stream`](crate::Stream)); the engine then runs [`client_handshake`] or
//! [`server_handshake`] over that stream (after the monitor's CONNECTED or ACCEPTED, as
//! libzmq), and drives the ZWS connection (`zmtp_codec::zws`) over the [`WsStream`]'s
//! binary messages. Which subprotocol names which mechanism is the codec's
//! ([`zws::offer`], [`zws::select`]); the HTTP upgrade, masking and WebSocket framing are
//! tungstenite's.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use zmtp_codec::zws;

pub use tokio_tungstenite::tungstenite::Error as WsError;
pub use tokio_tungstenite::tungstenite::Message as WsMessage;
pub use tokio_tungstenite::WebSocketStream;

use crate::endpoint::WsEndpoint;
use crate::Error;

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
