//! The cluster's KV buckets read straight from NATS, on a connection of the test's own: what
//! every node would find there, whatever any bridge believes.

use async_nats::jetstream::{self, kv::Store};

/// A runtime with networking, for a NATS client of the test's own.
pub fn net_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The bucket `bucket` (a node has created it) on a new connection to NATS at `url`.
pub fn bucket(rt: &tokio::runtime::Runtime, url: &str, bucket: &str) -> Store {
    rt.block_on(async {
        let client = async_nats::connect(url)
            .await
            .unwrap_or_else(|e| panic!("the test connects to NATS at {url}: {e}"));
        jetstream::new(client)
            .get_key_value(bucket)
            .await
            .unwrap_or_else(|e| panic!("bucket {bucket} is there: {e}"))
    })
}

/// The revision of `key` in `store` when it holds a value.
pub fn revision(rt: &tokio::runtime::Runtime, store: &Store, key: &str) -> Option<u64> {
    rt.block_on(store.entry(key))
        .unwrap_or_else(|e| panic!("reading {key}: {e}"))
        .filter(|e| e.operation == async_nats::jetstream::kv::Operation::Put)
        .map(|e| e.revision)
}
