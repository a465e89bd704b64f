//! The envelope around a plain packet: an optional cluster label and optional authenticated
//! encryption (XChaCha20-Poly1305), with a keyring for rotation and a plaintext migration switch.
//!
//! # Byte layout
//!
//! The first byte of every datagram tells its form. Plain packets start with the wire format's
//! magic + version byte (`0xB1`); first bytes `0xC0..=0xCF` are reserved for envelopes, and
//! only `0xC1` and `0xC2` are defined:
//!
//! ```text
//! plain     [0xB1 …]                                   the packet itself; overhead 0
//! labeled   [0xC1][len: u8, 1..=255][label][packet]   overhead 2 + label length
//! sealed    [0xC2][key id: 4][nonce: 24][ciphertext][tag: 16]
//!           ciphertext = XChaCha20(packet), same length as the packet; overhead 45
//!           AAD = [0xC2][key id: 4][label]   (label bytes only; empty without a label)
//! ```
//!
//! The nonce carries the sender's replay id (`[epoch: 8][counter: 8][random: 8]`, see
//! [`replay`]); the node checks it against its replay windows after authentication.
//!
//! The sealed form does not carry the label: both sides must know it, and a different label
//! fails authentication exactly like a wrong key, so traffic cannot cross clusters. The key id
//! is [`Key::id`]; the nonce is 24 bytes the caller draws from its seeded PRNG (192 random bits
//! are safe at any message rate). An envelope never contains another envelope: the inner packet
//! must be non-empty and must not start with a byte in `0xC0..=0xCF`.
//!
//! # What is accepted
//!
//! | received ↓ / configured →  | nothing      | label L           | keyring (± label L)                     |
//! |----------------------------|--------------|-------------------|-----------------------------------------|
//! | plain `0xB1…`              | ok           | `MissingLabel`¹   | `PlaintextRefused`¹                     |
//! | labeled L                  | `WrongLabel` | ok                | `PlaintextRefused`¹ (`WrongLabel` w/o L) |
//! | labeled M ≠ L              | `WrongLabel` | `WrongLabel`      | `WrongLabel`                            |
//! | sealed                     | `NoKeyring`  | `NoKeyring`       | `UnknownKey` / `AuthFailed` / ok        |
//!
//! ¹ accepted when [`EnvelopeConfig::accept_plaintext`] is set (the migration switch).

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod keyring;
pub mod replay;
#[cfg(test)]
mod tests;

pub use keyring::{Key, KeyError, KeyId, Keyring, KeyringError, KEY_ID_LEN, KEY_LEN, MAX_KEYS};
pub use replay::ReplayId;

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{Tag, XNonce};
use core::fmt;
use core::ops::RangeInclusive;

/// First bytes reserved for envelopes; a plain packet never starts with one of these.
pub const ENVELOPE_RANGE: RangeInclusive<u8> = 0xC0..=0xCF;
/// First byte of a labeled plaintext datagram.
pub const LABELED: u8 = 0xC1;
/// First byte of a sealed (encrypted and authenticated) datagram.
pub const SEALED: u8 = 0xC2;
/// Bytes in the nonce of a sealed datagram.
pub const NONCE_LEN: usize = 24;
/// Bytes in the authentication tag of a sealed datagram.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed datagram adds to its packet: 1 (kind) + 4 (key id) + 24 (nonce) + 16 (tag).
pub const SEALED_OVERHEAD: usize = 1 + KEY_ID_LEN + NONCE_LEN + TAG_LEN;
/// Longest cluster label, in bytes.
pub const MAX_LABEL_LEN: usize = 255;

const HEADER_LEN: usize = 1 + KEY_ID_LEN;
const AAD_MAX: usize = HEADER_LEN + MAX_LABEL_LEN;

/// A cluster label: 1 to 255 arbitrary bytes (usually a name such as `prod-eu`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Label(Box<[u8]>);

/// Why a label was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelError {
    /// A label must not be empty (configure none instead).
    Empty,
    /// The label is this many bytes; at most 255 are allowed.
    TooLong(usize),
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelError::Empty => f.write_str("cluster label is empty; omit it instead"),
            LabelError::TooLong(n) => write!(
                f,
                "cluster label is {n} bytes; at most {MAX_LABEL_LEN} are allowed"
            ),
        }
    }
}

impl std::error::Error for LabelError {}

impl Label {
    /// A label from its bytes.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Label, LabelError> {
        let bytes = bytes.as_ref();
        match bytes.len() {
            0 => Err(LabelError::Empty),
            n if n > MAX_LABEL_LEN => Err(LabelError::TooLong(n)),
            _ => Ok(Label(bytes.into())),
        }
    }

    /// The label's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// Why a datagram was not opened (or a packet not sealed). Every such datagram must be dropped
/// before it changes any state, and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Empty, or shorter than its envelope's fixed fields (or an empty inner packet).
    Truncated,
    /// First byte in `0xC0..=0xCF` but not an envelope kind this version knows.
    UnknownEnvelope(u8),
    /// A plain packet arrived but a label is configured (and plaintext is not accepted).
    MissingLabel,
    /// A labeled datagram with a label other than ours, or any label when we have none.
    WrongLabel,
    /// A plain or labeled datagram arrived but a keyring is configured and
    /// `accept_plaintext` is off.
    PlaintextRefused,
    /// A sealed datagram arrived but no keyring is configured.
    NoKeyring,
    /// A sealed datagram names a key id that is not in the keyring.
    UnknownKey(KeyId),
    /// The tag did not verify: tampered, wrong key, or a different cluster label.
    AuthFailed,
    /// The inner packet starts with an envelope byte (envelopes do not nest).
    NestedEnvelope,
    /// Sealing only: the packet is too large for the cipher (never for a UDP datagram).
    TooLarge,
}

impl EnvelopeError {
    /// A short, stable, lower-case name for counters and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            EnvelopeError::Truncated => "truncated",
            EnvelopeError::UnknownEnvelope(_) => "unknown_envelope",
            EnvelopeError::MissingLabel => "missing_label",
            EnvelopeError::WrongLabel => "wrong_label",
            EnvelopeError::PlaintextRefused => "plaintext_refused",
            EnvelopeError::NoKeyring => "no_keyring",
            EnvelopeError::UnknownKey(_) => "unknown_key",
            EnvelopeError::AuthFailed => "auth_failed",
            EnvelopeError::NestedEnvelope => "nested_envelope",
            EnvelopeError::TooLarge => "too_large",
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::UnknownEnvelope(b) => write!(f, "unknown_envelope (0x{b:02x})"),
            EnvelopeError::UnknownKey(id) => write!(f, "unknown_key ({id})"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// An invalid [`EnvelopeConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeConfigError {
    /// `send_plaintext` without `accept_plaintext`: such nodes would refuse each other.
    SendPlaintextWithoutAccept,
}

impl fmt::Display for EnvelopeConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeConfigError::SendPlaintextWithoutAccept => {
                f.write_str("send_plaintext requires accept_plaintext (peers configured alike would refuse each other)")
            }
        }
    }
}

impl std::error::Error for EnvelopeConfigError {}

/// How datagrams are wrapped and unwrapped. The default is plaintext: no label, no keyring.
///
/// * **Plaintext** (`label: None, keyring: None`): for trusted networks only: anyone who can
///   reach the port can read the membership and forge any message.
/// * **Label only**: filters out another cluster's traffic by mistake-proofing, not security
///   (the label travels in the clear and anyone can write it).
/// * **Keyed**: every datagram is encrypted and authenticated under the primary key, bound to
///   the label (if any) as associated data.
///
/// Turning protection on in a running cluster, one node at a time, with no failed probes:
/// 1. every node: the new label/keyring with `accept_plaintext` **and** `send_plaintext` on;
/// 2. every node: `send_plaintext` off (now sends protected, still accepts the old form);
/// 3. every node: `accept_plaintext` off.
///
/// Add a label and a keyring in two such migrations (label first), because during step 1 a
/// keyed node with a label sends the labeled form, which unlabeled nodes refuse.
#[derive(Clone, Debug, Default)]
pub struct EnvelopeConfig {
    /// The cluster label; `None` for no label.
    pub label: Option<Label>,
    /// Keys for authenticated encryption; `None` for no encryption.
    pub keyring: Option<Keyring>,
    /// Migration switch: also accept datagrams *without* the protection configured here
    /// (plain packets when a label is set; plain or labeled ones when a keyring is set). A
    /// labeled datagram must still carry our label. Log it loudly while it is on: it lets anyone
    /// who can reach the port inject traffic.
    pub accept_plaintext: bool,
    /// Migration switch: seal one step weaker than configured: a keyring's packets go out
    /// labeled (or plain without a label), a label's packets go out plain. Requires
    /// `accept_plaintext`.
    pub send_plaintext: bool,
}

/// The form [`EnvelopeConfig::seal`] produces.
enum Form<'c> {
    Plain,
    Labeled(&'c Label),
    Sealed(&'c Keyring),
}

impl EnvelopeConfig {
    /// Checks the switches are consistent.
    pub fn validate(&self) -> Result<(), EnvelopeConfigError> {
        if self.send_plaintext && !self.accept_plaintext {
            return Err(EnvelopeConfigError::SendPlaintextWithoutAccept);
        }
        Ok(())
    }

    fn form(&self) -> Form<'_> {
        match (&self.keyring, &self.label, self.send_plaintext) {
            (Some(ring), _, false) => Form::Sealed(ring),
            (Some(_), Some(label), true) => Form::Labeled(label),
            (None, Some(label), false) => Form::Labeled(label),
            _ => Form::Plain,
        }
    }

    /// Exactly how many bytes [`seal`](Self::seal) adds to every packet under this
    /// configuration: 0 (plain), 2 + label length (labeled) or 45 ([`SEALED_OVERHEAD`]).
    /// Subtract it from the datagram size limit to get the packet size limit.
    pub fn overhead(&self) -> usize {
        match self.form() {
            Form::Plain => 0,
            Form::Labeled(label) => label.as_bytes().len().saturating_add(2),
            Form::Sealed(_) => SEALED_OVERHEAD,
        }
    }

    /// Whether [`seal`](Self::seal) encrypts (and so uses its nonce). When `false` the caller
    /// need not draw a nonce.
    pub fn encrypts(&self) -> bool {
        matches!(self.form(), Form::Sealed(_))
    }

    /// Wraps the plain packet `plain` into `out` (cleared first; left empty on error).
    ///
    /// `nonce` must be fresh for every call: draw 24 bytes from the node's seeded PRNG. It is
    /// ignored unless [`encrypts`](Self::encrypts). The result is exactly
    /// [`overhead`](Self::overhead) bytes longer than `plain`.
    pub fn seal(
        &self,
        plain: &[u8],
        nonce: [u8; NONCE_LEN],
        out: &mut Vec<u8>,
    ) -> Result<(), EnvelopeError> {
        out.clear();
        let form = self.form();
        check_inner(plain, matches!(form, Form::Sealed(_)))?;
        match form {
            Form::Plain => out.extend_from_slice(plain),
            Form::Labeled(label) => {
                let len =
                    u8::try_from(label.as_bytes().len()).map_err(|_| EnvelopeError::TooLarge)?;
                out.reserve(
                    plain
                        .len()
                        .saturating_add(label.as_bytes().len())
                        .saturating_add(2),
                );
                out.push(LABELED);
                out.push(len);
                out.extend_from_slice(label.as_bytes());
                out.extend_from_slice(plain);
            }
            Form::Sealed(ring) => {
                let entry = ring.primary_entry();
                out.reserve(plain.len().saturating_add(SEALED_OVERHEAD));
                out.push(SEALED);
                out.extend_from_slice(&entry.id.0);
                out.extend_from_slice(&nonce);
                let start = out.len();
                out.extend_from_slice(plain);
                let mut aad = [0u8; AAD_MAX];
                let aad = build_aad(&mut aad, entry.id, self.label.as_ref());
                let tag = out
                    .get_mut(start..)
                    .ok_or(EnvelopeError::TooLarge)
                    .and_then(|body| {
                        entry
                            .cipher
                            .encrypt_inout_detached(&XNonce::from(nonce), aad, body.into())
                            .map_err(|_| EnvelopeError::TooLarge)
                    });
                match tag {
                    Ok(tag) => out.extend_from_slice(&tag),
                    Err(e) => {
                        out.clear();
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Unwraps one received datagram and returns the plain packet inside, borrowed from
    /// `datagram` (plain and labeled forms) or from `scratch` (sealed form, decrypted there;
    /// reuse one scratch buffer per socket to avoid allocating).
    ///
    /// Any error means: drop the datagram, count it, change nothing. Sealed datagrams are
    /// authenticated before anything is decrypted. Never panics, whatever the bytes.
    pub fn open<'a>(
        &self,
        datagram: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], EnvelopeError> {
        self.open_with_id(datagram, scratch).map(|(inner, _)| inner)
    }

    /// [`open`](Self::open), also returning the sender's [`ReplayId`] for a sealed datagram
    /// (`None` for plain and labeled ones). The id is authenticated; checking it against a
    /// replay window is the caller's job. The inner packet of a sealed datagram may be a
    /// [`replay`] control packet (first byte [`replay::CONTROL`]).
    pub fn open_with_id<'a>(
        &self,
        datagram: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<(&'a [u8], Option<ReplayId>), EnvelopeError> {
        let (&kind, rest) = datagram.split_first().ok_or(EnvelopeError::Truncated)?;
        if !ENVELOPE_RANGE.contains(&kind) {
            if !self.accept_plaintext {
                if self.keyring.is_some() {
                    return Err(EnvelopeError::PlaintextRefused);
                }
                if self.label.is_some() {
                    return Err(EnvelopeError::MissingLabel);
                }
            }
            return Ok((datagram, None));
        }
        match kind {
            LABELED => {
                let (&len, rest) = rest.split_first().ok_or(EnvelopeError::Truncated)?;
                let (label, inner) = rest
                    .split_at_checked(usize::from(len))
                    .ok_or(EnvelopeError::Truncated)?;
                match &self.label {
                    Some(ours) if ours.as_bytes() == label => {}
                    _ => return Err(EnvelopeError::WrongLabel),
                }
                if self.keyring.is_some() && !self.accept_plaintext {
                    return Err(EnvelopeError::PlaintextRefused);
                }
                check_inner(inner, false)?;
                Ok((inner, None))
            }
            SEALED => {
                let ring = self.keyring.as_ref().ok_or(EnvelopeError::NoKeyring)?;
                let (id, rest) = rest
                    .split_first_chunk::<KEY_ID_LEN>()
                    .ok_or(EnvelopeError::Truncated)?;
                let (nonce, rest) = rest
                    .split_first_chunk::<NONCE_LEN>()
                    .ok_or(EnvelopeError::Truncated)?;
                let (ciphertext, tag) = rest
                    .split_last_chunk::<TAG_LEN>()
                    .ok_or(EnvelopeError::Truncated)?;
                let id = KeyId(*id);
                let entry = ring.entry(id).ok_or(EnvelopeError::UnknownKey(id))?;
                let mut aad = [0u8; AAD_MAX];
                let aad = build_aad(&mut aad, id, self.label.as_ref());
                scratch.clear();
                scratch.resize(ciphertext.len(), 0);
                let opened = InOutBuf::new(ciphertext, scratch.as_mut_slice())
                    .map_err(|_| EnvelopeError::Truncated)
                    .and_then(|buf| {
                        entry
                            .cipher
                            .decrypt_inout_detached(
                                &XNonce::from(*nonce),
                                aad,
                                buf,
                                &Tag::from(*tag),
                            )
                            .map_err(|_| EnvelopeError::AuthFailed)
                    });
                if let Err(e) = opened.and_then(|()| check_inner(scratch, true)) {
                    scratch.clear();
                    return Err(e);
                }
                Ok((scratch.as_slice(), Some(ReplayId::from_nonce(nonce))))
            }
            other => Err(EnvelopeError::UnknownEnvelope(other)),
        }
    }
}

/// An inner packet must be non-empty and must not look like an envelope (a replay control
/// packet is allowed inside the sealed form only).
fn check_inner(packet: &[u8], sealed: bool) -> Result<(), EnvelopeError> {
    match packet.first() {
        None => Err(EnvelopeError::Truncated),
        Some(&replay::CONTROL) if sealed => Ok(()),
        Some(b) if ENVELOPE_RANGE.contains(b) => Err(EnvelopeError::NestedEnvelope),
        Some(_) => Ok(()),
    }
}

/// Writes `[0xC2][key id][label]` into `buf` and returns that prefix.
fn build_aad<'b>(buf: &'b mut [u8; AAD_MAX], id: KeyId, label: Option<&Label>) -> &'b [u8] {
    let [a, b, c, d] = id.0;
    let header = [SEALED, a, b, c, d];
    let label = label.map(Label::as_bytes).unwrap_or_default();
    let mut n = 0usize;
    for (dst, &src) in buf.iter_mut().zip(header.iter().chain(label)) {
        *dst = src;
        n = n.saturating_add(1);
    }
    buf.get(..n).unwrap_or_default()
}
