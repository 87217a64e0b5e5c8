//! Network I/O: the HTTP request head, routes, the WebSocket upgrade and the per-connection
//! reader/writer task.

pub mod conn;
pub mod cors;
pub mod http;
pub mod metrics;
pub mod ws_errors;
