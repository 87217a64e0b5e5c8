//! A log record as it crosses to the writer thread: an owned copy of one `tracing` event.
//!
//! Copying is the only work a shard does for a record it keeps: field values are turned into
//! plain values here, and all formatting into JSON or text happens on the writer thread.

use std::fmt;

use chrono::{DateTime, Utc};
use tracing::Level;
use tracing::field::{Field, Visit};

/// One field value. `Display` and `Debug` values arrive as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
}

/// An owned log record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub time: DateTime<Utc>,
    pub level: Level,
    /// The module (or fixed target, see `events.rs`) the record comes from.
    pub target: &'static str,
    /// The shard whose thread emitted it, if any (see `on_shard`).
    pub shard: Option<u32>,
    pub message: String,
    /// Every field but `message`, in the order the call site names them.
    pub fields: Vec<(&'static str, Value)>,
}

impl Record {
    /// A record with no fields, stamped now.
    pub fn new(level: Level, target: &'static str, message: impl Into<String>) -> Self {
        Record {
            time: Utc::now(),
            level,
            target,
            shard: None,
            message: message.into(),
            fields: Vec::with_capacity(6),
        }
    }

    /// Copies a `tracing` event.
    pub fn capture(event: &tracing::Event<'_>, shard: Option<u32>) -> Self {
        let meta = event.metadata();
        let mut record = Record::new(*meta.level(), meta.target(), String::new());
        record.shard = shard;
        event.record(&mut record);
        record
    }

    /// Adds a field (builder style).
    pub fn with(mut self, name: &'static str, value: Value) -> Self {
        self.fields.push((name, value));
        self
    }

    /// The text of the `client_ip` field, if the record has one.
    pub fn client_ip(&self) -> Option<&str> {
        self.fields.iter().find_map(|(name, value)| match value {
            Value::Str(ip) if *name == "client_ip" => Some(ip.as_str()),
            _ => None,
        })
    }

    fn push(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            if let Value::Str(text) = value {
                self.message = text;
            }
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for Record {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` arrives here too, as a wrapper whose `Debug` is the value's `Display`.
        self.push(field, Value::Str(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Str(value.to_owned()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }
}
