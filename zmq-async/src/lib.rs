//! Async ZeroMQ sockets on Tokio.
