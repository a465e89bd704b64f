//! The cloneable [`Node`] handle and its [`Builder`].

use crate::driver::{self, Inner, Outbox};
use crate::seeds;
use crate::{Error, IoStats};
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use swim_core::allow::AllowList;
use swim_core::wire::envelope::{EnvelopeConfig, Key, KeyId, Keyring};
use swim_core::{Config, Event, Member, Stats, Swim};
use tokio::net::{ToSocketAddrs, UdpSocket};
use tokio::sync::broadcast;

/// A node's protection: the envelope (cluster label, keyring, plaintext
/// migration switches) and the source-address allow-list. The default is
/// plaintext from anywhere, for trusted networks only (see SECURITY.md).
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// How datagrams are labeled / sealed and which forms are accepted.
    pub envelope: EnvelopeConfig,
    /// Sources datagrams are accepted from (empty: all), every message kind.
    pub allow: AllowList,
}

/// Options for [`Node`]s; [`Node::bind`] uses the defaults.
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
    rng_seed: Option<u64>,
    meta: Bytes,
    advertise: Option<SocketAddr>,
    event_capacity: usize,
    security: Security,
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
            security: Security::default(),
        }
    }

    /// Seeds the core's random choices (probe order, helpers, gossip
    /// targets, and the nonces of sealed datagrams). Default: a seed drawn
    /// from the operating system ([`crate::os_seed`]). For tests only when a
    /// keyring is configured: two runs with the same seed and key reuse
    /// nonces, which breaks the encryption.
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

    /// The label, keyring, migration switches and allow-list in force from
    /// the first datagram (default: plaintext from anywhere).
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// The envelope alone (see [`Builder::security`]).
    pub fn envelope(mut self, envelope: EnvelopeConfig) -> Self {
        self.security.envelope = envelope;
        self
    }

    /// The allow-list alone (see [`Builder::security`]).
    pub fn allow_list(mut self, allow: AllowList) -> Self {
        self.security.allow = allow;
        self
    }

    /// Binds a UDP socket (udp4 or udp6, following the address) and starts
    /// the node's task on the current tokio runtime. The node is alone until
    /// [`Node::join`].
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Node, Error> {
        // Refuse a bad envelope before touching the network.
        self.security.envelope.validate()?;
        let socket = UdpSocket::bind(addr).await?;
        let bound = socket.local_addr()?;
        let local = match self.advertise {
            Some(a) => a,
            None if bound.ip().is_unspecified() => return Err(Error::NeedAdvertise(bound)),
            None => bound,
        };
        if self.rng_seed.is_some() && self.security.envelope.keyring.is_some() {
            tracing::warn!("fixed rng_seed with a keyring: nonces repeat across runs (tests only)");
        }
        let seed = self.rng_seed.unwrap_or_else(crate::os_seed);
        let mut core = Swim::new(local, self.config, seed)?;
        log_envelope(&self.security.envelope);
        core.set_envelope(self.security.envelope)?;
        core.set_allow_list(self.security.allow);
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

    /// Binds with a label, keyring and/or allow-list in force from the first
    /// datagram: `Builder::new(config).security(security).bind(addr)`.
    pub async fn bind_with(
        addr: impl ToSocketAddrs,
        config: Config,
        security: Security,
    ) -> Result<Node, Error> {
        Builder::new(config).security(security).bind(addr).await
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

    /// Leaves gracefully: the core announces Left in pings to a few members
    /// and sends them again to others until enough have acked (at most
    /// three probe intervals); the node keeps running meanwhile, then
    /// stops. Returns once the core is done, or after `timeout` (the node
    /// stops then all the same).
    pub async fn leave(&self, timeout: Duration) -> Result<(), Error> {
        tracing::info!(local = %self.inner.local, "leaving");
        let deadline = tokio::time::Instant::now() + timeout;
        let out = self
            .inner
            .step(|core, now| Ok::<_, Error>(core.leave(now)))?;
        if tokio::time::timeout_at(deadline, self.inner.flush(out))
            .await
            .is_err()
        {
            tracing::warn!(?timeout, "leave notice not fully sent before the timeout");
        }
        self.inner.wake();
        // The driver keeps ticking the core (its retries); wait for it to
        // finish the leave.
        while !self.inner.with_core(|core| core.has_left())
            && tokio::time::Instant::now() < deadline
            && !self.inner.is_stopped()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !self.inner.with_core(|core| core.has_left()) {
            tracing::warn!(?timeout, "leave not acknowledged before the timeout");
        }
        self.shutdown().await;
        Ok(())
    }

    /// Stops the node's task now, without telling the cluster (peers will
    /// detect it as failed). Idempotent.
    pub async fn shutdown(&self) {
        self.inner.request_stop();
        self.inner.wait_stopped().await;
    }

    /// Replaces the label, keyring and migration switches; in force from the
    /// next datagram either way. [`Error::Envelope`] (nothing changed) when
    /// the switches are inconsistent. Changing the label or turning
    /// encryption on or off in a running cluster needs the migration in
    /// SECURITY.md, or nodes stop hearing each other.
    pub fn set_envelope(&self, envelope: EnvelopeConfig) -> Result<(), Error> {
        self.live()?;
        envelope.validate()?;
        log_envelope(&envelope);
        self.inner.with_core(|core| core.set_envelope(envelope))?;
        Ok(())
    }

    /// The label, keyring and migration switches in force (a copy; `Debug`
    /// shows key ids, never keys).
    pub fn envelope(&self) -> EnvelopeConfig {
        self.inner.with_core(|core| core.envelope().clone())
    }

    /// Replaces the source-address allow-list (every message kind; empty
    /// allows all), from the next datagram on.
    pub fn set_allow_list(&self, allow: AllowList) -> Result<(), Error> {
        self.live()?;
        tracing::info!(networks = ?allow.networks(), "allow-list set");
        self.inner.with_core(|core| core.set_allow_list(allow));
        Ok(())
    }

    /// Rotation step 1: installs `key` as an accepted (not yet sending) key
    /// and returns its id. Adding an installed key again changes nothing.
    /// [`Error::NoKeyring`] when the node runs without encryption.
    pub fn add_key(&self, key: Key) -> Result<KeyId, Error> {
        let id = self.edit_keyring(|ring| ring.add(key))?;
        tracing::info!(key = %id, "key added");
        Ok(id)
    }

    /// Rotation step 2: seals with the installed key `id` from now on; the
    /// previous primary stays accepted.
    pub fn use_key(&self, id: KeyId) -> Result<(), Error> {
        self.edit_keyring(|ring| ring.use_primary(id))?;
        tracing::info!(key = %id, "primary key set");
        Ok(())
    }

    /// Rotation step 3: uninstalls key `id`; datagrams sealed with it are
    /// rejected from now on. The primary key cannot be removed.
    pub fn remove_key(&self, id: KeyId) -> Result<(), Error> {
        self.edit_keyring(|ring| ring.remove(id))?;
        tracing::info!(key = %id, "key removed");
        Ok(())
    }

    /// Ids of the installed keys, the primary (sealing) key first; empty
    /// without a keyring.
    pub fn keys(&self) -> Vec<KeyId> {
        self.inner.with_core(|core| {
            core.envelope()
                .keyring
                .as_ref()
                .map(|ring| ring.ids().collect())
                .unwrap_or_default()
        })
    }

    /// Applies one keyring change under the core's lock: a copy of the
    /// envelope is edited and handed to the core, so a refused change leaves
    /// everything as it was.
    fn edit_keyring<T>(
        &self,
        f: impl FnOnce(&mut Keyring) -> Result<T, swim_core::wire::envelope::KeyringError>,
    ) -> Result<T, Error> {
        self.live()?;
        self.inner.with_core(|core| {
            let mut envelope = core.envelope().clone();
            let ring = envelope.keyring.as_mut().ok_or(Error::NoKeyring)?;
            let out = f(ring)?;
            core.set_envelope(envelope)?;
            Ok(out)
        })
    }

    fn live(&self) -> Result<(), Error> {
        if self.inner.is_stopped() {
            return Err(Error::Stopped);
        }
        Ok(())
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

/// Says what protection is in force; loudly when plaintext is accepted.
fn log_envelope(envelope: &EnvelopeConfig) {
    let keys: Vec<String> = envelope
        .keyring
        .as_ref()
        .map(|ring| ring.ids().map(|id| id.to_string()).collect())
        .unwrap_or_default();
    let label = envelope
        .label
        .as_ref()
        .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
    tracing::info!(
        ?label,
        ?keys,
        send_plaintext = envelope.send_plaintext,
        "envelope set"
    );
    if envelope.accept_plaintext {
        tracing::warn!(
            "ACCEPTING PLAINTEXT: anyone who can reach this port can inject unauthenticated \
             traffic; finish the migration and turn accept_plaintext off"
        );
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

    /// This subscription as a [`futures_core::Stream`] of events (for
    /// `StreamExt` combinators and `select!` loops).
    pub fn into_stream(self) -> EventStream {
        EventStream {
            state: StreamState::Idle(self.rx),
            missed: self.missed,
        }
    }
}

type Recv = (
    Result<Event<SocketAddr>, broadcast::error::RecvError>,
    broadcast::Receiver<Event<SocketAddr>>,
);

enum StreamState {
    Idle(broadcast::Receiver<Event<SocketAddr>>),
    Waiting(Pin<Box<dyn Future<Output = Recv> + Send>>),
    Done,
}

/// A node's events as a [`futures_core::Stream`] ([`Events::into_stream`]).
///
/// **Lag.** Events are kept in a ring of the builder's `event_capacity`
/// (default 1024) shared by every subscriber; a stream that falls further
/// behind skips the oldest events it has not read, logs a warning, counts
/// them in [`EventStream::missed`] and goes on with the oldest it still
/// has: it never blocks the node, and it never ends because of lag. Read
/// [`Node::members`] after a lag for the current state. The stream ends
/// (`None`) once the node has stopped and every event was read.
pub struct EventStream {
    state: StreamState,
    missed: u64,
}

impl EventStream {
    /// Events skipped because this stream fell behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl futures_core::Stream for EventStream {
    type Item = Event<SocketAddr>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        loop {
            match std::mem::replace(&mut self.state, StreamState::Done) {
                StreamState::Done => return Poll::Ready(None),
                StreamState::Idle(mut rx) => {
                    self.state = StreamState::Waiting(Box::pin(async move {
                        let r = rx.recv().await;
                        (r, rx)
                    }));
                }
                StreamState::Waiting(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.state = StreamState::Waiting(fut);
                        return Poll::Pending;
                    }
                    Poll::Ready((Ok(event), rx)) => {
                        self.state = StreamState::Idle(rx);
                        return Poll::Ready(Some(event));
                    }
                    Poll::Ready((Err(broadcast::error::RecvError::Lagged(n)), rx)) => {
                        tracing::warn!(missed = n, "event stream fell behind");
                        self.missed = self.missed.saturating_add(n);
                        self.state = StreamState::Idle(rx);
                    }
                    Poll::Ready((Err(broadcast::error::RecvError::Closed), _)) => {
                        return Poll::Ready(None);
                    }
                },
            }
        }
    }
}
