//! The metrics routes: query and auth checks, then a scrape of every shard, rendered as the
//! JSON document or Prometheus text.

use chrono::Utc;

use super::http::{RequestHead, Route, TEXT_PLAIN, response, text_response};
use crate::metrics::dashboard::DashboardView;
use crate::metrics::json::render_json;
use crate::metrics::process::{BuildInfo, ProcessStats, render_draining, render_process};
use crate::metrics::prometheus::render_prometheus;
use crate::metrics::query::{bearer_ok, parse_query};
use crate::shard::Shard;

/// Content type of the Prometheus text format 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers a request for one of the metrics routes.
pub async fn respond(shard: &Shard, head: &RequestHead, route: Route) -> Vec<u8> {
    let head_only = head.method == "HEAD";
    if head.method != "GET" && !head_only {
        return text_response(405, "Method Not Allowed", "", false);
    }
    // 0.1.0 parsed the query before checking auth; a bad query is a 400 for anyone.
    let query = match parse_query(head.query.as_deref()) {
        Ok(query) => query,
        Err(body) if route == Route::Metrics => {
            return text_response(400, "Bad Request", &body, head_only);
        }
        Err(_) => Default::default(),
    };
    let security = &shard.config.security;
    if security.require_metrics_auth {
        let token = security.metrics_auth_token.as_deref().unwrap_or_default();
        if token.is_empty() || !bearer_ok(head.header("authorization"), token) {
            return response(401, "Unauthorized", TEXT_PLAIN, "", head_only);
        }
    }
    let mut snapshot = shard.gather().await;
    if let Some(link) = &shard.cluster {
        snapshot.cross_instance = link.stats().cross_instance();
    }
    let dashboard = snapshot
        .dashboard
        .clone()
        .unwrap_or_else(|| DashboardView::never_refreshed(&shard.config.metrics));
    if route == Route::Metrics {
        let body = render_json(&snapshot, &query, &dashboard, Utc::now());
        response(200, "OK", "application/json", &body, head_only)
    } else {
        let mut body = render_prometheus(
            &snapshot,
            dashboard.age_gauge_seconds(),
            dashboard.refresh_failures,
        );
        render_process(&mut body, &ProcessStats::read(), &BuildInfo::current());
        render_draining(&mut body, shard.drain.is_draining());
        if let Some(link) = &shard.cluster {
            link.stats().render_prometheus(&mut body, link.node_id());
        }
        response(200, "OK", PROMETHEUS_TEXT, &body, head_only)
    }
}
