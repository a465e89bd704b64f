//! The cloneable [`Node`] handle and its [`Builder`].

use crate::driver::{self, Inner, Outbox};
use crate::seeds;
use crate::{Error, IoStats};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use swim_core::{Config, Event, Member, Stats, Swim};
use tokio::net::{ToSocketAddrs, UdpSocket};
use tokio::sync::broadcast;

/// Options for [`Node`]s; [`Node::bind`] uses the defaults.
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
    rng_seed: Option<u64>,
    meta: Bytes,
    advertise: Option<SocketAddr>,
    event_capacity: usize,
}

impl Builder {
    /// Starts from a protocol configuration (e.g. [`Config::lan`]).
    pub fn new(config: Config) -> Self {
        Builder {
            config,
            rng_seed: None,
            meta: Bytes::new(),
            advertise: None,
            event_capacity: 1024,
        }
    }

    /// Seeds the core's random choices (probe order, helpers, gossip
    /// targets). Default: a seed drawn from the operating system.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// This node's metadata, announced with its membership (at most
    /// `config.max_meta_size` bytes; see [`crate::meta`] for a text encoding).
    pub fn meta(mut self, meta: Bytes) -> Self {
        self.meta = meta;
        self
    }

    /// The address other members reach this node at, when the bound address
    /// is a wildcard (`0.0.0.0` / `[::]`). It is the node's identity.
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// How many events each [`Events`] subscriber may fall behind before it
    /// misses some (default 1024).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Binds a UDP socket (udp4 or udp6, following the address) and starts
    /// the node's task on the current tokio runtime. The node is alone until
    /// [`Node::join`].
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Node, Error> {
        let socket = UdpSocket::bind(addr).await?;
        let bound = socket.local_addr()?;
        let local = match self.advertise {
            Some(a) => a,
            None if bound.ip().is_unspecified() => return Err(Error::NeedAdvertise(bound)),
            None => bound,
        };
        let seed = self.rng_seed.unwrap_or_else(crate::os_seed);
        let mut core = Swim::new(local, self.config, seed)?;
        let now = std::time::Instant::now();
        let actions = core.set_meta(now, self.meta)?;
        let (events, _) = broadcast::channel(self.event_capacity);
        let inner = Arc::new(Inner::new(core, socket, local, events));
        let out = inner.step(|_, _| Ok::<_, Error>(actions))?;
        inner.flush(out).await;
        tracing::info!(%local, %bound, "swim node bound");
        tokio::spawn(driver::run(Arc::clone(&inner)));
        Ok(Node {
            owner: Arc::new(Owner(Arc::clone(&inner))),
            inner,
        })
    }
}

/// Stops the node's task when the last [`Node`] clone is dropped.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.request_stop();
    }
}

/// A running member: a cloneable handle to the task that owns the socket
/// and the protocol state. Dropping the last clone stops the task (without
/// leaving: use [`Node::leave`] for a graceful exit).
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
    #[expect(dead_code, reason = "held only for its Drop, which stops the task")]
    owner: Arc<Owner>,
}

impl Node {
    /// Binds with default options: `Builder::new(config).bind(addr)`.
    pub async fn bind(addr: impl ToSocketAddrs, config: Config) -> Result<Node, Error> {
        Builder::new(config).bind(addr).await
    }

    /// Joins the cluster through `seeds`: each an `ip:port` or a
    /// `host:port` resolved through DNS (every A/AAAA record of this
    /// socket's family is used). The core retries with backoff until one
    /// answers; watch [`Node::events`] for the members. While the node has
    /// no live member, host names are resolved again every
    /// `join_retry_max` and a changed answer is joined through. Returns how
    /// many seed addresses were used; [`Error::NoSeedAddress`] when none
    /// resolved.
    pub async fn join<S: AsRef<str>>(&self, seeds: &[S]) -> Result<usize, Error> {
        let names: Vec<String> = seeds.iter().map(|s| s.as_ref().to_owned()).collect();
        let addrs = seeds::resolve(&names, self.inner.local).await;
        self.join_addrs(&addrs).await?;
        if names.iter().any(|s| s.parse::<SocketAddr>().is_err()) {
            let used = addrs.len();
            tokio::spawn(seeds::refresh(Arc::downgrade(&self.inner), names, addrs));
            return Ok(used);
        }
        Ok(addrs.len())
    }

    /// Joins through already resolved addresses (no family filtering).
    pub async fn join_addrs(&self, seeds: &[SocketAddr]) -> Result<(), Error> {
        if seeds.is_empty() {
            return Err(Error::NoSeedAddress);
        }
        tracing::info!(?seeds, "joining");
        self.run(|core, now| Ok(core.join(now, seeds))).await
    }

    /// Subscribes to membership events and application messages from now
    /// on. The stream ends after the node stops.
    pub fn events(&self) -> Events {
        Events {
            rx: self.inner.subscribe(),
            missed: 0,
        }
    }

    /// Every known member except this node, in address order.
    pub fn members(&self) -> Vec<Member<SocketAddr>> {
        self.inner.with_core(|core| core.members().collect())
    }

    /// This node as the cluster should see it.
    pub fn local(&self) -> Member<SocketAddr> {
        self.inner.with_core(|core| core.local())
    }

    /// This node's address (its identity in the cluster).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// The protocol's counters.
    pub fn stats(&self) -> Stats {
        self.inner.with_core(|core| core.stats())
    }

    /// The Lifeguard local health score (0 = healthy; higher means this
    /// node is slow to answer and stretches its own timers).
    pub fn health_score(&self) -> u32 {
        self.inner.with_core(|core| core.health_score())
    }

    /// The socket's error counters.
    pub fn io_stats(&self) -> IoStats {
        self.inner.io_stats()
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.inner.with_core(|core| core.config().clone())
    }

    /// Disseminates `payload` to every member (an [`Event::Message`] with
    /// `broadcast: true` at each of them).
    pub async fn broadcast(&self, payload: Bytes) -> Result<(), Error> {
        self.run(|core, now| core.broadcast(now, payload).map_err(Error::from))
            .await
    }

    /// Sends `payload` to one live member.
    pub async fn send_to(&self, member: SocketAddr, payload: Bytes) -> Result<(), Error> {
        self.run(|core, now| core.send_to(now, member, payload).map_err(Error::from))
            .await
    }

    /// Replaces this node's metadata and announces it.
    pub async fn set_meta(&self, meta: Bytes) -> Result<(), Error> {
        self.run(|core, now| core.set_meta(now, meta).map_err(Error::from))
            .await
    }

    /// Leaves gracefully: sends the Left notice the core produces to a few
    /// members (they spread it), then stops the node. Returns once the
    /// notice went out, or after `timeout` if the socket would not take it.
    pub async fn leave(&self, timeout: Duration) -> Result<(), Error> {
        tracing::info!(local = %self.inner.local, "leaving");
        let out = self
            .inner
            .step(|core, now| Ok::<_, Error>(core.leave(now)))?;
        if tokio::time::timeout(timeout, self.inner.flush(out))
            .await
            .is_err()
        {
            tracing::warn!(?timeout, "leave notice not fully sent before the timeout");
        }
        // The core is inert after leaving (no timers, drops datagrams).
        self.shutdown().await;
        Ok(())
    }

    /// Stops the node's task now, without telling the cluster (peers will
    /// detect it as failed). Idempotent.
    pub async fn shutdown(&self) {
        self.inner.request_stop();
        self.inner.wait_stopped().await;
    }

    /// Whether the node's task has stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.is_stopped()
    }

    async fn run(
        &self,
        f: impl FnOnce(
            &mut Swim<SocketAddr>,
            std::time::Instant,
        ) -> Result<Vec<swim_core::Action<SocketAddr>>, Error>,
    ) -> Result<(), Error> {
        let out: Outbox = self.inner.step(f)?;
        self.inner.flush(out).await;
        self.inner.wake();
        Ok(())
    }
}

/// A subscription to a node's events (see [`Node::events`]).
pub struct Events {
    rx: broadcast::Receiver<Event<SocketAddr>>,
    missed: u64,
}

impl Events {
    /// The next event; `None` once the node has stopped and every event was
    /// read. A subscriber that falls more than the builder's
    /// `event_capacity` behind skips the oldest events; [`Events::missed`]
    /// counts them.
    pub async fn recv(&mut self) -> Option<Event<SocketAddr>> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "event subscriber fell behind");
                    self.missed = self.missed.saturating_add(n);
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<Event<SocketAddr>> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    self.missed = self.missed.saturating_add(n);
                }
                Err(_) => return None,
            }
        }
    }

    /// Events skipped because this subscriber fell behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}
