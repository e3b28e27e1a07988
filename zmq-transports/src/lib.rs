//! Endpoint parsing and Tokio transports for ZeroMQ.
