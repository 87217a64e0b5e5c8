//! Network I/O: TLS, the HTTP request head, routes, the WebSocket upgrade (with token binding)
//! and the per-connection reader/writer task.

pub mod admission;
pub mod capacity;
pub mod client_addr;
pub mod conn;
pub mod cors;
pub mod counted;
pub mod edge;
pub mod flush_window;
mod footprint;
pub mod http;
pub mod metrics;
pub mod proxy_header;
pub mod stream;
pub mod tls;
pub mod token_binding;
pub mod ws_errors;
