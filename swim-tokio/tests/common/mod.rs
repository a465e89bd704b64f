//! Helpers shared by the in-process tokio tests.

#![allow(dead_code, reason = "each test binary uses a subset")]

use std::time::{Duration, Instant};

/// Polls `cond` every 20 ms until it holds; panics with `what` after
/// `limit` (for the in-process tokio tests).
pub(crate) async fn poll_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
