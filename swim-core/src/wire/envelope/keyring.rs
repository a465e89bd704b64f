//! Keys and the keyring: several keys accepted, one primary used to seal.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use core::fmt;
use zeroize::Zeroize;

/// Bytes in a [`Key`]: XChaCha20-Poly1305 takes a 256-bit key.
pub const KEY_LEN: usize = 32;

/// Bytes in a [`KeyId`] on the wire.
pub const KEY_ID_LEN: usize = 4;

/// Most keys a [`Keyring`] holds (a rotation needs two; a few spare is plenty).
pub const MAX_KEYS: usize = 16;

/// The nonce used only to derive key ids (never drawn for sealing in practice:
/// sealing nonces are 192 random bits, so a collision has probability 2⁻¹⁹²).
const KEY_ID_NONCE: [u8; 24] = *b"swim key id v1\0\0\0\0\0\0\0\0\0\0";
/// Associated data of the key-id derivation (domain separation).
const KEY_ID_AAD: &[u8] = b"swim-key-id";

/// A 256-bit cluster key. The bytes are wiped from memory when it is dropped.
///
/// `Debug` prints the [`KeyId`] only, never the key.
#[derive(Clone)]
pub struct Key {
    bytes: [u8; KEY_LEN],
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id())
    }
}

/// Why key material was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The text was empty (after trimming whitespace).
    Empty,
    /// The key decoded to this many bytes instead of 32.
    WrongLength(usize),
    /// The text is neither 64 hex digits nor 32 bytes of base64.
    BadEncoding,
    /// Every byte is zero: almost certainly a blank or uninitialized key file.
    AllZero,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => f.write_str(
                "key is empty; expected 32 bytes as 64 hex digits or 44 base64 characters",
            ),
            KeyError::WrongLength(n) => write!(
                f,
                "key is {n} bytes; expected exactly 32 (64 hex digits or 44 base64 characters)"
            ),
            KeyError::BadEncoding => {
                f.write_str("key is neither 64 hex digits nor standard base64 of 32 bytes")
            }
            KeyError::AllZero => f.write_str(
                "key is all zeros; generate one with e.g. `head -c32 /dev/urandom | base64`",
            ),
        }
    }
}

impl std::error::Error for KeyError {}

impl Key {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Key, KeyError> {
        let key = Key { bytes };
        if key.bytes.iter().all(|&b| b == 0) {
            return Err(KeyError::AllZero);
        }
        Ok(key)
    }

    /// A key from a slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Key, KeyError> {
        let mut raw: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        let key = Key::from_bytes(raw);
        raw.zeroize();
        key
    }

    /// Parses a key written as 64 hex digits (either case) or as standard base64 of 32 bytes
    /// (44 characters with `=` padding, or 43 without). Surrounding whitespace (a trailing
    /// newline in a key file) is ignored. This is what `--key-file` reads.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let text = text.trim().as_bytes();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        let all_hex = text.iter().all(u8::is_ascii_hexdigit);
        // Hex digits only, an even count: hex, whatever the length (32 hex
        // digits are 16 bytes, not the 24 bytes they would be as base64).
        // An odd count is base64 only at 43 (32 bytes unpadded).
        if all_hex && text.len() != 64 {
            if text.len() % 2 == 0 {
                return Err(KeyError::WrongLength(text.len() / 2));
            }
            if text.len() != 43 {
                return Err(KeyError::BadEncoding);
            }
        }
        let mut buf = [0u8; 64];
        let decoded = if all_hex && text.len() == 64 {
            decode_hex(text, &mut buf)
        } else {
            decode_base64(text, &mut buf)
        };
        let result = match decoded {
            Some(n) => Key::from_slice(buf.get(..n).unwrap_or_default()),
            None => Err(KeyError::BadEncoding),
        };
        buf.zeroize();
        result
    }

    /// This key's id: the first 4 bytes of an XChaCha20-Poly1305 tag computed under the key
    /// over a fixed domain-separation string (a "key check value"). Every node derives the same
    /// id from the same key, so ids need no coordination; it reveals nothing useful about the key.
    pub fn id(&self) -> KeyId {
        key_id(&self.cipher())
    }

    pub(super) fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }
}

fn key_id(cipher: &XChaCha20Poly1305) -> KeyId {
    let nonce = XNonce::from(KEY_ID_NONCE);
    let mut empty: [u8; 0] = [];
    match cipher.encrypt_inout_detached(&nonce, KEY_ID_AAD, empty.as_mut_slice().into()) {
        Ok(tag) => {
            let mut id = [0u8; KEY_ID_LEN];
            for (dst, src) in id.iter_mut().zip(tag.iter()) {
                *dst = *src;
            }
            KeyId(id)
        }
        // Only over-long inputs fail, and the input is empty.
        Err(_) => KeyId([0; KEY_ID_LEN]),
    }
}

/// Decodes exactly 64 hex digits into `out`; returns the byte count.
fn decode_hex(text: &[u8], out: &mut [u8; 64]) -> Option<usize> {
    let mut n = 0usize;
    for (pair, dst) in text.chunks_exact(2).zip(out.iter_mut()) {
        let [hi, lo] = pair else { return None };
        *dst = (hex_val(*hi)? << 4) | hex_val(*lo)?;
        n = n.checked_add(1)?;
    }
    Some(n)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => c.checked_sub(b'0'),
        b'a'..=b'f' => c.checked_sub(b'a' - 10),
        b'A'..=b'F' => c.checked_sub(b'A' - 10),
        _ => None,
    }
}

fn b64_val(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c.checked_sub(b'A')?,
        b'a'..=b'z' => c.checked_sub(b'a' - 26)?,
        b'0'..=b'9' => c.checked_add(4)?, // b'0' (48) + 4 = 52
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes standard base64 (padding optional) into `out`; `None` on any bad character, bad
/// padding, or more than 64 output bytes. Returns the byte count.
fn decode_base64(text: &[u8], out: &mut [u8; 64]) -> Option<usize> {
    let body = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    if body.len() % 4 == 1 || (body.len() != text.len() && (text.len() % 4) != 0) {
        return None;
    }
    let mut n = 0usize;
    let mut slots = out.iter_mut();
    for chunk in body.chunks(4) {
        let mut acc: u32 = 0;
        for &c in chunk {
            acc = (acc << 6) | b64_val(c)?;
        }
        // A chunk of k characters carries 6k bits: 4 → 3 bytes, 3 → 2 bytes (+2 spare bits),
        // 2 → 1 byte (+4 spare bits). Spare bits must be zero (canonical encoding).
        let (skip, shift, spare) = match chunk.len() {
            4 => (1, 0, 0),
            3 => (2, 2, 0b11),
            2 => (3, 4, 0b1111),
            _ => return None,
        };
        if acc & spare != 0 {
            return None;
        }
        let be = acc.checked_shr(shift)?.to_be_bytes();
        for &b in be.iter().skip(skip) {
            *slots.next()? = b;
            n = n.checked_add(1)?;
        }
    }
    Some(n)
}

/// A key's public, 4-byte identifier, sent in every sealed datagram so the receiver picks
/// the right key without trial decryption. Displayed as 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a keyring operation was refused. The keyring is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyringError {
    /// The keyring already holds [`MAX_KEYS`] keys.
    Full,
    /// A different key with the same 4-byte id is already installed (chance 2⁻³² per pair):
    /// generate another key.
    IdCollision(KeyId),
    /// No key with this id is installed.
    UnknownKey(KeyId),
    /// The primary key cannot be removed: make another key primary first.
    RemovePrimary(KeyId),
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringError::Full => write!(f, "keyring is full ({MAX_KEYS} keys); remove one first"),
            KeyringError::IdCollision(id) => {
                write!(
                    f,
                    "a different key with id {id} is already installed; generate a new key"
                )
            }
            KeyringError::UnknownKey(id) => write!(f, "no key with id {id} is installed"),
            KeyringError::RemovePrimary(id) => {
                write!(
                    f,
                    "key {id} is the primary key; make another key primary before removing it"
                )
            }
        }
    }
}

impl std::error::Error for KeyringError {}

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) id: KeyId,
    /// Holds its own copy of the key, wiped on drop (chacha20poly1305's `zeroize` feature).
    pub(super) cipher: XChaCha20Poly1305,
}

/// The keys a node accepts: one primary (used to seal) plus up to [`MAX_KEYS`]` - 1` others
/// (accepted when opening). Never empty.
///
/// Rotation with no failed datagram at any point (run each step on every node before the next):
/// 1. [`add`](Keyring::add) the new key: everyone can now open it, still seals with the old one;
/// 2. [`use_primary`](Keyring::use_primary) the new key: everyone seals with it, still opens both;
/// 3. [`remove`](Keyring::remove) the old key: datagrams sealed with it are rejected from now on.
#[derive(Clone)]
pub struct Keyring {
    primary: Entry,
    others: Vec<Entry>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary.id)
            .field(
                "others",
                &self.others.iter().map(|e| e.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// A keyring holding one key, which is primary.
    pub fn new(primary: Key) -> Keyring {
        let cipher = primary.cipher();
        Keyring {
            primary: Entry {
                id: key_id(&cipher),
                cipher,
            },
            others: Vec::new(),
        }
    }

    /// Installs `key` as an accepted (not primary) key and returns its id. Installing a key
    /// that is already present changes nothing and succeeds.
    pub fn add(&mut self, key: Key) -> Result<KeyId, KeyringError> {
        let cipher = key.cipher();
        let id = key_id(&cipher);
        if let Some(existing) = self.entry(id) {
            // Same id: the same key, or a 2⁻³² collision, told apart by a second derivation.
            return if same_key(&existing.cipher, &cipher) {
                Ok(id)
            } else {
                Err(KeyringError::IdCollision(id))
            };
        }
        if self.len() >= MAX_KEYS {
            return Err(KeyringError::Full);
        }
        self.others.push(Entry { id, cipher });
        Ok(id)
    }

    /// Makes the installed key `id` the primary (sealing) key; the old primary stays accepted.
    pub fn use_primary(&mut self, id: KeyId) -> Result<(), KeyringError> {
        if self.primary.id == id {
            return Ok(());
        }
        let slot = self
            .others
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or(KeyringError::UnknownKey(id))?;
        core::mem::swap(&mut self.primary, slot);
        Ok(())
    }

    /// Uninstalls key `id`: datagrams sealed with it are rejected from now on. The primary
    /// key cannot be removed.
    pub fn remove(&mut self, id: KeyId) -> Result<(), KeyringError> {
        if self.primary.id == id {
            return Err(KeyringError::RemovePrimary(id));
        }
        let before = self.others.len();
        self.others.retain(|e| e.id != id);
        if self.others.len() == before {
            return Err(KeyringError::UnknownKey(id));
        }
        Ok(())
    }

    /// The id of the primary (sealing) key.
    pub fn primary(&self) -> KeyId {
        self.primary.id
    }

    /// Ids of every installed key, primary first.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        core::iter::once(self.primary.id).chain(self.others.iter().map(|e| e.id))
    }

    /// Number of installed keys (at least 1).
    pub fn len(&self) -> usize {
        self.others.len().saturating_add(1)
    }

    /// Always `false`: a keyring holds at least its primary key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether key `id` is installed.
    pub fn contains(&self, id: KeyId) -> bool {
        self.entry(id).is_some()
    }

    pub(super) fn primary_entry(&self) -> &Entry {
        &self.primary
    }

    /// Looks a key up by id: at most [`MAX_KEYS`] 4-byte compares, primary first.
    pub(super) fn entry(&self, id: KeyId) -> Option<&Entry> {
        if self.primary.id == id {
            return Some(&self.primary);
        }
        self.others.iter().find(|e| e.id == id)
    }
}

/// Whether two ciphers hold the same key, compared through a second, independent derivation
/// (different nonce), so key bytes are never compared or exposed directly.
fn same_key(a: &XChaCha20Poly1305, b: &XChaCha20Poly1305) -> bool {
    let check = |c: &XChaCha20Poly1305| {
        let nonce = XNonce::from(*b"swim key check v1\0\0\0\0\0\0\0");
        let mut empty: [u8; 0] = [];
        c.encrypt_inout_detached(&nonce, KEY_ID_AAD, empty.as_mut_slice().into())
            .ok()
    };
    match (check(a), check(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}
