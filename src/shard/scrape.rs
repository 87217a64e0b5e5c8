//! Collecting metrics from every shard. A scrape on any shard sends `MetricsRequest` through the
//! shard inboxes, each shard answers with a copy of its counters, histograms and room summary
//! (bounded work: O(games + histogram buckets), never a walk over connections or rooms), and the
//! scraping shard merges the copies. Nothing on the hot path is locked or shared.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::Shard;
use super::messages::{ShardMsg, TelemetryMsg};
use crate::metrics::{MetricsSnapshot, ShardSnapshot};
use crate::signal::Signal;

/// How long a scrape waits for slow shards before rendering what it has.
const GATHER_TIMEOUT: Duration = Duration::from_secs(2);

/// Reports collected for one scrape.
#[derive(Default)]
pub struct Gather {
    reports: RefCell<Vec<ShardSnapshot>>,
    signal: Signal,
}

impl Shard {
    /// This shard's report.
    pub fn report(&self) -> ShardSnapshot {
        let mut report = self.metrics.snapshot(
            self.index,
            self.session_count() as u64,
            self.owned_rooms() as u64,
        );
        report.counters.log_records_dropped = crate::log::dropped_records();
        report.dashboard = self
            .dashboard
            .borrow()
            .as_ref()
            .map(|cache| cache.view(Utc::now()));
        report
    }

    /// Keeps the dashboard cache fresh: every refresh interval, gather every shard's room
    /// summary and append it to the history. Runs on the shard that owns the cache.
    pub async fn refresh_dashboard(&self) {
        let Some(interval) = self
            .dashboard
            .borrow()
            .as_ref()
            .map(|c| c.refresh_interval())
        else {
            return;
        };
        loop {
            let snapshot = self.gather().await;
            let complete = snapshot.shards.len() == self.count as usize;
            if let Some(cache) = self.dashboard.borrow_mut().as_mut() {
                if complete {
                    cache.refresh(Utc::now(), &snapshot.rooms);
                } else {
                    cache.refresh_failed("a shard did not answer in time");
                }
            }
            glommio::timer::sleep(interval).await;
        }
    }

    /// Asks every shard (this one included) for its report and merges them.
    pub async fn gather(&self) -> MetricsSnapshot {
        let id = self.next_scrape.get();
        self.next_scrape.set(id + 1);
        let gather = Rc::new(Gather::default());
        self.scrapes.borrow_mut().insert(id, gather.clone());
        for shard in 0..self.count {
            self.send(
                shard,
                ShardMsg::Telemetry(TelemetryMsg::MetricsRequest {
                    reply_to: self.index,
                    request_id: id,
                }),
            );
        }
        let deadline = Instant::now() + GATHER_TIMEOUT;
        while gather.reports.borrow().len() < self.count as usize {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            futures_lite::future::or(gather.signal.wait(), glommio::timer::sleep(left)).await;
        }
        self.scrapes.borrow_mut().remove(&id);
        let reports = std::mem::take(&mut *gather.reports.borrow_mut());
        MetricsSnapshot::merge(reports, Utc::now())
    }

    /// Handles scrape traffic.
    pub(super) fn telemetry(&self, msg: TelemetryMsg) {
        match msg {
            TelemetryMsg::MetricsRequest {
                reply_to,
                request_id,
            } => self.answer_scrape(reply_to, request_id),
            TelemetryMsg::MetricsReply { request_id, report } => {
                self.file_report(request_id, *report)
            }
        }
    }

    /// Answers a scrape request from the background task queue, so copying the report never
    /// delays connection work queued before it.
    fn answer_scrape(&self, reply_to: u32, request_id: u64) {
        let shard = self.me.borrow().upgrade();
        let queue = self.background.get();
        if let (Some(shard), Some(queue)) = (shard, queue) {
            let task = async move {
                let report = Box::new(shard.report());
                shard.send(reply_to, reply(request_id, report));
            };
            if let Ok(task) = glommio::spawn_local_into(task, queue) {
                task.detach();
                return;
            }
        }
        // Not running on an executor (benchmarks, unit tests): answer in place.
        let report = Box::new(self.report());
        self.send(reply_to, reply(request_id, report));
    }

    /// Files a report for a scrape started here.
    fn file_report(&self, request_id: u64, report: ShardSnapshot) {
        let gather = self.scrapes.borrow().get(&request_id).cloned();
        if let Some(gather) = gather {
            gather.reports.borrow_mut().push(report);
            gather.signal.raise();
        }
    }
}

/// One shard's answer to scrape `request_id`.
fn reply(request_id: u64, report: Box<ShardSnapshot>) -> ShardMsg {
    ShardMsg::Telemetry(TelemetryMsg::MetricsReply { request_id, report })
}
