//! What an idle connection's state weighs, fixed at compile time (issue 10 item 3; the
//! breakdown is in tuning.md). The connection task's future is allocated once at its largest
//! state for the connection's whole life, so a large rarely used state costs every idle
//! connection.

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::mem::size_of;

    use async_tungstenite::WebSocketStream;

    use crate::net::counted::Counted;
    use crate::net::stream::Stream;
    use crate::session::Session;
    use crate::shard::mailbox::Mailbox;

    /// The size of the future an async fn of three arguments returns, without calling it.
    fn future_size<A, B, C, Fut: Future>(_: impl FnOnce(A, B, C) -> Fut) -> usize {
        size_of::<Fut>()
    }

    /// The same for five arguments.
    fn future_size5<A, B, C, D, E, Fut: Future>(_: impl FnOnce(A, B, C, D, E) -> Fut) -> usize {
        size_of::<Fut>()
    }

    #[test]
    fn print_and_bound_the_idle_connection_state() {
        let task = future_size(crate::net::conn::serve);
        let open = future_size5(crate::net::conn::run_websocket);
        eprintln!("websocket phase future {open} B");
        let ws = size_of::<WebSocketStream<Counted<Stream>>>();
        let session = size_of::<Session>();
        let mailbox = size_of::<Mailbox>();
        eprintln!(
            "connection future {task} B, websocket {ws} B, session {session} B, mailbox {mailbox} B"
        );
        // 2,080 B (debug, with the flush window) once the handshake was boxed out; it was
        // 4,680 B before. A rise past this bound means some new state is held by every idle
        // connection: box it if rare.
        assert!(
            task <= 2560,
            "the connection task future grew to {task} B; see tuning.md section 8"
        );
    }
}
