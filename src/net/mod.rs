//! Network I/O: TLS, the HTTP request head, routes, the WebSocket upgrade (with token binding)
//! and the per-connection reader/writer task.

pub mod conn;
pub mod http;
pub mod metrics;
pub mod stream;
pub mod tls;
pub mod token_binding;
