//! SWIM gossip membership for programs that run their own [mio] event loop.
//!
//! A [`Node`] owns a non-blocking UDP socket and the [`swim_core`] state
//! machine. You register it with your [`mio::Registry`] under a
//! [`mio::Token`] you choose, let it compute your poll timeout from the
//! core's next deadline, and hand it the readiness events and the passing of
//! time; it feeds datagrams to the core, runs its timers and sends what the
//! core says. No protocol logic lives here. Socket errors are counted in
//! [`Node::io_stats`] and survived.
//!
//! Driving it from your own loop, next to your own sockets:
//!
//! ```no_run
//! use mio::{Events, Poll, Token};
//! use std::time::Instant;
//! use swim_mio::{Config, Node};
//!
//! let mut poll = Poll::new()?;
//! let mut events = Events::with_capacity(64);
//! let mut node = Node::bind("127.0.0.1:7946".parse().unwrap(), Config::lan())?;
//! node.register(poll.registry(), Token(7))?;
//! node.join(&["127.0.0.1:7947"])?;
//! loop {
//!     poll.poll(&mut events, node.timeout(Instant::now()))?;
//!     for event in events.iter() {
//!         node.handle_ready(event, Instant::now()); // ignores other tokens
//!         // ... your own tokens here ...
//!     }
//!     node.handle_timeout(Instant::now());
//!     while let Some(e) = node.next_event() {
//!         println!("{e:?}");
//!     }
//! #   break;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Node::poll_once`] does one such turn, and [`Node::run`] is a blocking
//! loop for small programs.
//!
//! Security (see `SECURITY.md`): plaintext by default. [`Node::set_envelope`]
//! (label, keyring, migration switches) and [`Node::set_allow_list`] apply
//! from the next datagram; call them right after binding (a node sends
//! nothing before [`Node::join`]) to protect every datagram. Rotate keys with
//! [`Node::add_key`], [`Node::use_key`], [`Node::remove_key`], each step on
//! every node before the next. The core draws its sealing nonces from its
//! PRNG, which [`Node::bind`] seeds from the OS ([`os_seed`]);
//! [`Node::bind_with_seed`] is for tests and must not be given a fixed seed
//! for a keyed node in production.

use bytes::Bytes;
use core::fmt;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Registry, Token};
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use swim_core::Swim;

pub use swim_core::allow::{AllowList, Cidr};
pub use swim_core::wire::envelope::{
    EnvelopeConfig, EnvelopeConfigError, Key, KeyError, KeyId, Keyring, KeyringError, Label,
};
pub use swim_core::{Action, Config, ConfigError, Event, Member, State, Stats};

/// Largest datagram read; the core rejects what exceeds its own limit.
const RECV_BUF: usize = 65_536;
/// Datagrams kept while the socket's send buffer is full.
const SEND_QUEUE: usize = 1024;
/// Events kept until [`Node::next_event`] reads them.
const EVENT_QUEUE: usize = 65_536;

/// The runtime's own counters (the protocol's are in [`Node::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Datagrams the socket refused to send (counted, then dropped).
    pub send_errors: u64,
    /// Errors reading the socket (counted, then skipped).
    pub recv_errors: u64,
    /// Datagrams dropped because the send queue was full.
    pub send_queue_drops: u64,
    /// Events dropped because nobody read them ([`Node::next_event`]).
    pub event_queue_drops: u64,
}

/// Why an operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Binding, registering or polling failed.
    Io(io::Error),
    /// The configuration is invalid.
    Config(ConfigError),
    /// The core refused a command (payload too large, unknown member, ...).
    Swim(swim_core::Error),
    /// No seed resolved to an address this socket can reach.
    NoSeedAddress,
    /// The envelope configuration is inconsistent (e.g. `send_plaintext`
    /// without `accept_plaintext`).
    Envelope(EnvelopeConfigError),
    /// The keyring refused a change (unknown key id, removing the primary,
    /// full, id collision). Nothing changed.
    Keyring(KeyringError),
    /// A key operation on a node without a keyring.
    NoKeyring,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "socket: {e}"),
            Error::Config(e) => e.fmt(f),
            Error::Swim(e) => e.fmt(f),
            Error::NoSeedAddress => f.write_str("no seed resolved to a reachable address"),
            Error::Envelope(e) => e.fmt(f),
            Error::Keyring(e) => e.fmt(f),
            Error::NoKeyring => {
                f.write_str("no keyring is configured (set an envelope with a keyring first)")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Swim(e) => Some(e),
            Error::Envelope(e) => Some(e),
            Error::Keyring(e) => Some(e),
            Error::NoSeedAddress | Error::NoKeyring => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<swim_core::Error> for Error {
    fn from(e: swim_core::Error) -> Self {
        Error::Swim(e)
    }
}

impl From<EnvelopeConfigError> for Error {
    fn from(e: EnvelopeConfigError) -> Self {
        Error::Envelope(e)
    }
}

impl From<KeyringError> for Error {
    fn from(e: KeyringError) -> Self {
        Error::Keyring(e)
    }
}

/// One member on a non-blocking UDP socket. See the crate docs for the loop.
pub struct Node {
    core: Swim<SocketAddr>,
    socket: UdpSocket,
    local: SocketAddr,
    token: Option<Token>,
    buf: Vec<u8>,
    /// `read_all` stopped before the socket would block.
    read_pending: bool,
    /// Datagrams waiting for the socket to become writable again.
    unsent: VecDeque<(SocketAddr, Bytes)>,
    events: VecDeque<Event<SocketAddr>>,
    io: IoStats,
}

impl Node {
    /// Binds a UDP socket at `addr` (udp4 or udp6, following the address)
    /// with an OS-drawn seed for the core's random choices.
    pub fn bind(addr: SocketAddr, config: Config) -> Result<Node, Error> {
        Node::bind_with_seed(addr, config, os_seed())
    }

    /// Like [`Node::bind`] with a chosen seed (same seed, same choices).
    /// `addr` must not be a wildcard (it is the node's identity); a port of
    /// 0 takes whatever port the OS assigns.
    pub fn bind_with_seed(addr: SocketAddr, config: Config, seed: u64) -> Result<Node, Error> {
        let socket = UdpSocket::bind(addr)?;
        let local = socket.local_addr()?;
        if local.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bind a specific address: it is the member's identity",
            )
            .into());
        }
        let core = Swim::new(local, config, seed)?;
        tracing::info!(%local, "swim node bound");
        Ok(Node {
            core,
            socket,
            local,
            token: None,
            buf: vec![0u8; RECV_BUF],
            read_pending: false,
            unsent: VecDeque::new(),
            events: VecDeque::new(),
            io: IoStats::default(),
        })
    }

    /// Registers the socket with `registry` under `token` (readable and
    /// writable, edge-triggered). Call once, before polling.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut self.socket,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.token = Some(token);
        Ok(())
    }

    /// Removes the socket from `registry`.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.token = None;
        registry.deregister(&mut self.socket)
    }

    /// The token given to [`Node::register`].
    pub fn token(&self) -> Option<Token> {
        self.token
    }

    /// How long a poll may block before [`Node::handle_timeout`] is due
    /// (`None`: no timer pending). Take the minimum with your own timers.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.core
            .next_deadline()
            .map(|d| d.saturating_duration_since(now))
    }

    /// Handles one readiness event; events for other tokens are ignored.
    /// Returns whether it was this node's.
    pub fn handle_ready(&mut self, event: &mio::event::Event, now: Instant) -> bool {
        if Some(event.token()) != self.token {
            return false;
        }
        if event.is_writable() {
            self.flush_unsent();
        }
        if event.is_readable() {
            self.read_all(now);
        }
        true
    }

    /// Reads every datagram waiting on the socket (until it would block:
    /// readiness is edge-triggered, so stopping early could strand data).
    pub fn read_all(&mut self, now: Instant) {
        // A pending socket error (an ICMP report) is returned once, then
        // reading goes on; only a run of errors stops the loop, so that a
        // persistent one cannot spin it.
        let mut errors_in_a_row = 0;
        self.read_pending = false;
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    errors_in_a_row = 0;
                    let bytes = self.buf.get(..len).unwrap_or_default();
                    let actions = self.core.handle_datagram(now, from, bytes);
                    self.perform(actions);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    count_error(&mut self.io.recv_errors, "recv", None, &e);
                    errors_in_a_row += 1;
                    if errors_in_a_row >= 16 {
                        // Data may be left with no new edge coming: read
                        // again at the next timeout.
                        self.read_pending = true;
                        return;
                    }
                }
            }
        }
    }

    /// Runs the core's timers if they are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.read_pending {
            self.read_all(now);
        }
        if self.core.next_deadline().is_some_and(|d| d <= now) {
            let actions = self.core.tick(now);
            self.perform(actions);
        }
    }

    /// One turn of a loop that polls only this node: waits for readiness or
    /// the next deadline (at most `max_wait`), then handles both. The
    /// `events` buffer still holds the poll's events afterwards, for any
    /// other tokens registered with the same `poll`.
    pub fn poll_once(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        max_wait: Option<Duration>,
    ) -> io::Result<()> {
        let timeout = match (self.timeout(Instant::now()), max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match poll.poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            self.handle_ready(event, Instant::now());
        }
        self.handle_timeout(Instant::now());
        Ok(())
    }

    /// A blocking loop for small programs: registers with its own `Poll`
    /// (under `Token(0)`, if not registered yet) and runs until `on_event`
    /// returns `Break` or `until` passes.
    pub fn run(
        &mut self,
        until: Option<Instant>,
        mut on_event: impl FnMut(&mut Node, Event<SocketAddr>) -> ControlFlow<()>,
    ) -> io::Result<()> {
        let mut poll = Poll::new()?;
        let own = self.token.is_none();
        if own {
            self.register(poll.registry(), Token(0))?;
        }
        let mut events = Events::with_capacity(64);
        let result = loop {
            let wait = until.map(|u| u.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll_once(&mut poll, &mut events, wait) {
                break Err(e);
            }
            let mut stop = false;
            while let Some(event) = self.next_event() {
                if on_event(self, event).is_break() {
                    stop = true;
                    break;
                }
            }
            if stop || until.is_some_and(|u| Instant::now() >= u) {
                break Ok(());
            }
        };
        if own {
            let _ = self.deregister(poll.registry());
        }
        result
    }

    /// The next membership event or application message, oldest first.
    pub fn next_event(&mut self) -> Option<Event<SocketAddr>> {
        self.events.pop_front()
    }

    /// Joins the cluster through `seeds`: each an `ip:port` or `host:port`
    /// resolved through the system resolver (blocking; every address of this
    /// socket's family is used). The core retries with backoff until one
    /// answers. Returns how many seed addresses were used.
    pub fn join<S: AsRef<str>>(&mut self, seeds: &[S]) -> Result<usize, Error> {
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for seed in seeds {
            let seed = seed.as_ref();
            match seed.to_socket_addrs() {
                Ok(found) => {
                    for a in found {
                        if a.is_ipv4() == self.local.is_ipv4()
                            && a != self.local
                            && !addrs.contains(&a)
                        {
                            addrs.push(a);
                        }
                    }
                }
                Err(e) => tracing::warn!(seed, error = %e, "cannot resolve seed"),
            }
        }
        self.join_addrs(&addrs)?;
        Ok(addrs.len())
    }

    /// Joins through already resolved addresses.
    pub fn join_addrs(&mut self, seeds: &[SocketAddr]) -> Result<(), Error> {
        if seeds.is_empty() {
            return Err(Error::NoSeedAddress);
        }
        tracing::info!(?seeds, "joining");
        let actions = self.core.join(Instant::now(), seeds);
        self.perform(actions);
        Ok(())
    }

    /// Disseminates `payload` to every member.
    pub fn broadcast(&mut self, payload: Bytes) -> Result<(), Error> {
        let actions = self.core.broadcast(Instant::now(), payload)?;
        self.perform(actions);
        Ok(())
    }

    /// Sends `payload` to one live member.
    pub fn send_to(&mut self, member: SocketAddr, payload: Bytes) -> Result<(), Error> {
        let actions = self.core.send_to(Instant::now(), member, payload)?;
        self.perform(actions);
        Ok(())
    }

    /// Replaces this node's metadata and announces it.
    pub fn set_meta(&mut self, meta: Bytes) -> Result<(), Error> {
        let actions = self.core.set_meta(Instant::now(), meta)?;
        self.perform(actions);
        Ok(())
    }

    /// Leaves gracefully: the core announces Left in pings to a few members
    /// and, while the node keeps being polled, sends them again to others
    /// until enough have acked (at most three probe intervals). Once
    /// [`Node::has_left`] is true and [`Node::pending_sends`] is 0 the node
    /// can be dropped.
    pub fn leave(&mut self) {
        tracing::info!(local = %self.local, "leaving");
        let actions = self.core.leave(Instant::now());
        self.perform(actions);
    }

    /// Replaces the label, keyring and migration switches, in force from the
    /// next datagram either way; [`Error::Envelope`] (nothing changed) when
    /// the switches are inconsistent. Logs a warning while plaintext is
    /// accepted.
    pub fn set_envelope(&mut self, envelope: EnvelopeConfig) -> Result<(), Error> {
        if envelope.accept_plaintext {
            tracing::warn!(
                "ACCEPTING PLAINTEXT: anyone who can reach this port can inject unauthenticated \
                 traffic; finish the migration and turn accept_plaintext off"
            );
        }
        self.core.set_envelope(envelope)?;
        Ok(())
    }

    /// The label, keyring and migration switches in force.
    pub fn envelope(&self) -> &EnvelopeConfig {
        self.core.envelope()
    }

    /// Accepts datagrams only from these networks (every message kind;
    /// empty allows all), from the next datagram on.
    pub fn set_allow_list(&mut self, allow: AllowList) {
        self.core.set_allow_list(allow);
    }

    /// Rotation step 1: installs `key` as accepted (not yet sending); returns
    /// its id. [`Error::NoKeyring`] without a keyring.
    pub fn add_key(&mut self, key: Key) -> Result<KeyId, Error> {
        self.edit_keyring(|ring| ring.add(key))
    }

    /// Rotation step 2: seals with installed key `id`; the old primary stays
    /// accepted.
    pub fn use_key(&mut self, id: KeyId) -> Result<(), Error> {
        self.edit_keyring(|ring| ring.use_primary(id))
    }

    /// Rotation step 3: uninstalls key `id` (not the primary).
    pub fn remove_key(&mut self, id: KeyId) -> Result<(), Error> {
        self.edit_keyring(|ring| ring.remove(id))
    }

    /// Installed key ids, the primary first; empty without a keyring.
    pub fn keys(&self) -> Vec<KeyId> {
        self.core
            .envelope()
            .keyring
            .as_ref()
            .map(|ring| ring.ids().collect())
            .unwrap_or_default()
    }

    fn edit_keyring<T>(
        &mut self,
        f: impl FnOnce(&mut Keyring) -> Result<T, KeyringError>,
    ) -> Result<T, Error> {
        let mut envelope = self.core.envelope().clone();
        let ring = envelope.keyring.as_mut().ok_or(Error::NoKeyring)?;
        let out = f(ring)?;
        self.core.set_envelope(envelope)?;
        tracing::info!(keys = ?self.keys(), "keyring changed");
        Ok(out)
    }

    /// Whether a leave has finished (see [`Node::leave`]).
    pub fn has_left(&self) -> bool {
        self.core.has_left()
    }

    /// Datagrams waiting for the socket to become writable.
    pub fn pending_sends(&self) -> usize {
        self.unsent.len()
    }

    /// Leaves and waits (at most `timeout`) until the notice is acknowledged
    /// and sent. For a node not registered with a caller's `Poll` (those
    /// call [`Node::leave`] and keep polling until [`Node::has_left`] and
    /// [`Node::pending_sends`] is 0).
    pub fn leave_blocking(&mut self, timeout: Duration) -> io::Result<()> {
        if self.token.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "registered with another Poll: call leave() and keep polling",
            ));
        }
        self.leave();
        if self.unsent.is_empty() && self.core.has_left() {
            return Ok(());
        }
        let until = Instant::now() + timeout;
        let mut poll = Poll::new()?;
        self.register(poll.registry(), Token(0))?;
        let mut events = Events::with_capacity(8);
        while (!self.unsent.is_empty() || !self.core.has_left()) && Instant::now() < until {
            self.poll_once(
                &mut poll,
                &mut events,
                Some(until.saturating_duration_since(Instant::now())),
            )?;
        }
        self.deregister(poll.registry())
    }

    /// Every known member except this node, in address order.
    pub fn members(&self) -> impl Iterator<Item = Member<SocketAddr>> + '_ {
        self.core.members()
    }

    /// This node as the cluster should see it.
    pub fn local(&self) -> Member<SocketAddr> {
        self.core.local()
    }

    /// This node's address (its identity).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The protocol's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The socket's counters.
    pub fn io_stats(&self) -> IoStats {
        self.io
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        self.core.config()
    }

    fn perform(&mut self, actions: Vec<Action<SocketAddr>>) {
        for action in actions {
            match action {
                Action::Send { to, payload } => self.send(to, payload),
                Action::Event(event) => {
                    tracing::debug!(local = %self.local, ?event, "event");
                    if self.events.len() >= EVENT_QUEUE {
                        self.events.pop_front();
                        self.io.event_queue_drops = self.io.event_queue_drops.saturating_add(1);
                    }
                    self.events.push_back(event);
                }
            }
        }
    }

    fn send(&mut self, to: SocketAddr, payload: Bytes) {
        if !self.unsent.is_empty() {
            self.queue(to, payload);
            return;
        }
        match self.socket.send_to(&payload, to) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.queue(to, payload),
            Err(e) => count_error(&mut self.io.send_errors, "send", Some(to), &e),
        }
    }

    fn queue(&mut self, to: SocketAddr, payload: Bytes) {
        if self.unsent.len() >= SEND_QUEUE {
            self.unsent.pop_front();
            self.io.send_queue_drops = self.io.send_queue_drops.saturating_add(1);
        }
        self.unsent.push_back((to, payload));
    }

    fn flush_unsent(&mut self) {
        while let Some((to, payload)) = self.unsent.front() {
            match self.socket.send_to(payload, *to) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    let to = *to;
                    count_error(&mut self.io.send_errors, "send", Some(to), &e);
                }
            }
            self.unsent.pop_front();
        }
    }
}

/// Counts a socket error; logs the 1st, 2nd, 4th, 8th, ... at `warn` and the
/// rest at `debug`, so a downed link does not flood the log.
fn count_error(counter: &mut u64, op: &str, peer: Option<SocketAddr>, e: &io::Error) {
    *counter = counter.saturating_add(1);
    if counter.is_power_of_two() {
        tracing::warn!(op, ?peer, error = %e, count = *counter, "socket error (survived)");
    } else {
        tracing::debug!(op, ?peer, error = %e, count = *counter, "socket error (survived)");
    }
}

/// A seed for the core's PRNG from the operating system's randomness (the
/// runtime may use it; the core may not): 8 bytes from the OS random source
/// (`getrandom`). Should that fail (no `/dev/urandom` in a sandbox), the
/// bits of a fresh OS-keyed `RandomState`, the process id and the time are
/// hashed instead, and a warning is logged.
pub fn os_seed() -> u64 {
    match getrandom::u64() {
        Ok(seed) => seed,
        Err(e) => {
            tracing::warn!(error = %e, "OS random source failed; seeding from RandomState");
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                h.write_u128(t.as_nanos());
            }
            h.finish()
        }
    }
}
