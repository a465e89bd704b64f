//! Helpers shared by the multi-process agent tests.

#![allow(dead_code, reason = "each test binary uses a subset")]

use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Every JSON line each agent printed, in order, with a condvar signalled on
/// every new line.
pub(crate) type Lines = Arc<(Mutex<Vec<Vec<Value>>>, Condvar)>;

/// Waits (at most `limit`) until `cond` holds over everything printed so far;
/// panics with the output on timeout.
pub(crate) fn wait_lines(
    lines: &Lines,
    limit: Duration,
    what: &str,
    cond: impl Fn(&[Vec<Value>]) -> bool,
) {
    let (lock, cvar) = &**lines;
    let deadline = Instant::now() + limit;
    let mut guard = lock.lock().unwrap();
    while !cond(&guard) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out after {limit:?} waiting for {what}; output: {guard:#?}"
        );
        guard = cvar
            .wait_timeout(guard, left.min(Duration::from_millis(200)))
            .unwrap()
            .0;
    }
}

/// Distinct free UDP addresses on `ip` (held together while picking, so
/// they differ).
pub(crate) fn free_addrs(ip: [u8; 4], n: usize) -> Vec<SocketAddr> {
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind(SocketAddr::from((ip, 0))).unwrap())
        .collect();
    socks.iter().map(|s| s.local_addr().unwrap()).collect()
}
