//! The one loop: receive a datagram → `handle_datagram`; sleep until
//! `next_deadline` → `tick`; perform whatever actions come out.

use crate::{Error, IoStats};
use bytes::Bytes;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use swim_core::{Action, Event, Swim};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, watch, Notify};

/// Largest datagram read; the core rejects what exceeds its own limit.
const RECV_BUF: usize = 65_536;

/// Datagrams to send, collected while the core's lock is held.
pub(crate) type Outbox = Vec<(SocketAddr, Bytes)>;

struct State {
    core: Swim<SocketAddr>,
    /// `None` once the task stopped: subscribers then see the end.
    events: Option<broadcast::Sender<Event<SocketAddr>>>,
}

/// Everything the task and the handles share.
pub(crate) struct Inner {
    state: Mutex<State>,
    socket: UdpSocket,
    pub(crate) local: SocketAddr,
    /// Wakes the task: its deadline may have changed, or it must stop.
    wake: Notify,
    stop: AtomicBool,
    stopped: watch::Sender<bool>,
    send_errors: AtomicU64,
    recv_errors: AtomicU64,
}

impl Inner {
    pub(crate) fn new(
        core: Swim<SocketAddr>,
        socket: UdpSocket,
        local: SocketAddr,
        events: broadcast::Sender<Event<SocketAddr>>,
    ) -> Self {
        Inner {
            state: Mutex::new(State {
                core,
                events: Some(events),
            }),
            socket,
            local,
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            stopped: watch::Sender::new(false),
            send_errors: AtomicU64::new(0),
            recv_errors: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means the core panicked: a bug, not bad input.
        self.state
            .lock()
            .expect("swim-core panicked while handling an input")
    }

    pub(crate) fn with_core<T>(&self, f: impl FnOnce(&mut Swim<SocketAddr>) -> T) -> T {
        f(&mut self.lock().core)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event<SocketAddr>> {
        match &self.lock().events {
            Some(tx) => tx.subscribe(),
            // Already stopped: a receiver whose sender is gone ends at once.
            None => broadcast::channel(1).1,
        }
    }

    /// Runs one core call at the current time, publishes its events (under
    /// the lock, so every subscriber sees them in order) and returns the
    /// datagrams to send.
    pub(crate) fn step<E>(
        &self,
        f: impl FnOnce(&mut Swim<SocketAddr>, Instant) -> Result<Vec<Action<SocketAddr>>, E>,
    ) -> Result<Outbox, E>
    where
        E: From<Error>,
    {
        let mut state = self.lock();
        if state.events.is_none() {
            return Err(Error::Stopped.into());
        }
        let actions = f(&mut state.core, Instant::now())?;
        let mut out = Outbox::new();
        for action in actions {
            match action {
                Action::Send { to, payload } => out.push((to, payload)),
                Action::Event(event) => {
                    tracing::debug!(local = %self.local, ?event, "event");
                    if let Some(tx) = &state.events {
                        // No subscriber is fine: nobody is listening.
                        let _ = tx.send(event);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Sends each datagram; errors are counted and logged, never fatal.
    pub(crate) async fn flush(&self, out: Outbox) {
        for (to, payload) in out {
            if let Err(e) = self.socket.send_to(&payload, to).await {
                count_error(&self.send_errors, "send", Some(to), &e);
            }
        }
    }

    pub(crate) fn io_stats(&self) -> IoStats {
        IoStats {
            send_errors: self.send_errors.load(Ordering::Relaxed),
            recv_errors: self.recv_errors.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    pub(crate) async fn wait_stopped(&self) {
        let mut rx = self.stopped.subscribe();
        // The sender lives in `self`, so this only ends when stopped.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

/// Counts a socket error; logs the 1st, 2nd, 4th, 8th, ... at `warn` and the
/// rest at `debug`, so a downed link does not flood the log.
fn count_error(counter: &AtomicU64, op: &str, peer: Option<SocketAddr>, e: &io::Error) {
    let n = counter.fetch_add(1, Ordering::Relaxed).saturating_add(1);
    if n.is_power_of_two() {
        tracing::warn!(op, ?peer, error = %e, count = n, "socket error (survived)");
    } else {
        tracing::debug!(op, ?peer, error = %e, count = n, "socket error (survived)");
    }
}

/// The node's task.
pub(crate) async fn run(inner: std::sync::Arc<Inner>) {
    let mut buf = vec![0u8; RECV_BUF];
    while !inner.stop.load(Ordering::Acquire) {
        let deadline = inner.with_core(|core| core.next_deadline());
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let out = tokio::select! {
            received = inner.socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => {
                    let bytes = buf.get(..len).unwrap_or_default();
                    inner.step(|core, now| Ok::<_, Error>(core.handle_datagram(now, from, bytes)))
                }
                Err(e) => {
                    count_error(&inner.recv_errors, "recv", None, &e);
                    // Never spin on a persistent error.
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            () = timer => inner.step(|core, now| Ok::<_, Error>(core.tick(now))),
            () = inner.wake.notified() => continue,
        };
        if let Ok(out) = out {
            inner.flush(out).await;
        }
    }
    inner.lock().events = None;
    inner.stopped.send_replace(true);
    tracing::info!(local = %inner.local, "swim node stopped");
}
