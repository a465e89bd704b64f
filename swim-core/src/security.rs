//! The edge between the network and the protocol: the address allow-list,
//! the label / authenticated-encryption envelope, decoding, and sealing of
//! every datagram this node emits.

use crate::allow::AllowList;
use crate::wire::envelope::{EnvelopeConfig, EnvelopeConfigError, NONCE_LEN};
use crate::wire::{self, Packet};
use crate::{Action, Addr, Swim};
use bytes::Bytes;

impl<A: Addr> Swim<A> {
    /// Sets the cluster label, keyring and plaintext-migration switches.
    /// Takes effect for the next datagram in either direction. Rotate keys
    /// by setting a config whose keyring has the new key added, then made
    /// primary, then the old one removed (see SECURITY.md).
    ///
    /// Nonces are drawn from the node's seeded PRNG: with a key, give every
    /// run of a node a fresh random seed (the runtimes do), or nonces repeat.
    pub fn set_envelope(&mut self, envelope: EnvelopeConfig) -> Result<(), EnvelopeConfigError> {
        envelope.validate()?;
        self.envelope = envelope;
        Ok(())
    }

    /// The envelope in force.
    pub fn envelope(&self) -> &EnvelopeConfig {
        &self.envelope
    }

    /// Accepts datagrams only from sources inside these networks (every
    /// message kind). An empty list accepts every source.
    pub fn set_allow_list(&mut self, allow: AllowList) {
        self.allow = allow;
    }

    /// Allow-list, envelope, decode. `None` (counted) if the datagram must be
    /// dropped; otherwise the packet and whether it was authenticated.
    pub(crate) fn open_datagram(&mut self, from: A, bytes: &[u8]) -> Option<(Packet<A>, bool)> {
        if !self.allow.is_empty() && !from.source_ip().is_some_and(|ip| self.allow.contains(ip)) {
            self.stats.not_allowed += 1;
            return None;
        }
        let authenticated = bytes.first() == Some(&wire::envelope::SEALED);
        let mut scratch = core::mem::take(&mut self.scratch);
        let result = match self.envelope.open(bytes, &mut scratch) {
            Ok(plain) => match wire::decode::<A>(plain, &self.limits) {
                Ok(p) => Some((p, authenticated)),
                Err(_) => {
                    self.stats.decode_errors += 1;
                    None
                }
            },
            Err(_) => {
                self.stats.envelope_rejected += 1;
                None
            }
        };
        self.scratch = scratch;
        result
    }

    /// Largest plain packet: `max_packet_size` less the envelope's overhead.
    pub(crate) fn max_datagram(&self) -> usize {
        self.config
            .max_packet_size
            .saturating_sub(self.envelope.overhead())
    }

    /// Wraps a plain packet in the envelope and emits it.
    pub(crate) fn emit_datagram(&mut self, to: A, plain: Bytes) {
        let payload = if self.envelope.overhead() == 0 {
            plain
        } else {
            let mut nonce = [0u8; NONCE_LEN];
            if self.envelope.encrypts() {
                for chunk in nonce.chunks_mut(8) {
                    let r = self.rng.u64().to_le_bytes();
                    chunk.copy_from_slice(r.get(..chunk.len()).unwrap_or(&[]));
                }
            }
            let mut out = Vec::with_capacity(plain.len() + self.envelope.overhead());
            if self.envelope.seal(&plain, nonce, &mut out).is_err() {
                self.stats.datagrams_dropped += 1;
                return;
            }
            Bytes::from(out)
        };
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += payload.len() as u64;
        self.out.push(Action::Send { to, payload });
    }
}
