//! `--key-file`, `--label`, `--allow` and the plaintext migration switches
//! into a [`Security`]; key files and key ids for `swim keys`.

use crate::cli::AgentArgs;
use std::path::Path;
use swim_tokio::{AllowList, EnvelopeConfig, Key, KeyError, KeyId, Keyring, Label, Security};

/// Reads one key (64 hex digits or base64 of 32 bytes; surrounding
/// whitespace ignored) from `path`, or from stdin when `path` is `-`. Every
/// error names the file. Warns when others may read the file.
pub(crate) fn read_key_file(path: &Path) -> Result<Key, String> {
    let mut text = read_key_text(path)?;
    let key = parse_key_text(&text).map_err(|e| format!("key file {}: {e}", path.display()));
    wipe_string(&mut text);
    key
}

/// Like [`read_key_file`], but returns the checked key's text (trimmed),
/// for `swim keys add` to send over the control socket.
pub(crate) fn read_key_text(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| format!("key file {shown}: cannot read stdin: {e}"))?;
        buf
    } else {
        warn_if_readable_by_others(path);
        std::fs::read(path).map_err(|e| format!("key file {shown}: cannot read: {e}"))?
    };
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            wipe(&mut e.into_bytes());
            return Err(format!(
                "key file {shown}: not text; expected 32 bytes as 64 hex digits or base64 \
                 (encode a raw key with `base64 -w0 FILE`)"
            ));
        }
    };
    if let Err(e) = parse_key_text(&text) {
        wipe_string(&mut text);
        return Err(format!("key file {shown}: {e}"));
    }
    let trimmed = text.trim().to_owned();
    wipe_string(&mut text);
    Ok(trimmed)
}

/// Overwrites a string holding key material before it is freed.
pub(crate) fn wipe_string(text: &mut String) {
    let mut bytes = std::mem::take(text).into_bytes();
    wipe(&mut bytes);
}

/// Parses a key written as text ([`Key::parse`]). Text made only of hex
/// digits but not 64 of them is reported as a hex key of the wrong length
/// (`Key::parse` would read it as base64 and report that length, which
/// confuses): no such text is a valid key either way.
pub(crate) fn parse_key_text(text: &str) -> Result<Key, String> {
    Key::parse(text).map_err(|e| {
        let t = text.trim();
        if t.bytes().all(|b| b.is_ascii_hexdigit())
            && matches!(e, KeyError::WrongLength(_) | KeyError::BadEncoding)
        {
            format!(
                "key is {} hex digits; expected exactly 64 (32 bytes), or base64 of 32 bytes",
                t.len()
            )
        } else {
            e.to_string()
        }
    })
}

/// Overwrites key material before the buffer is freed (`zeroize`: the
/// stores are not optimized away).
pub(crate) fn wipe(bytes: &mut [u8]) {
    use zeroize::Zeroize;
    bytes.zeroize();
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "key file is accessible to other users; chmod 600 it"
            );
        }
    }
}

/// A key id as printed by `swim keys list`: 8 hex digits.
pub(crate) fn parse_key_id(text: &str) -> Result<KeyId, String> {
    let t = text.trim();
    let bad = || format!("bad key id {t:?}: expected 8 hex digits (see `swim keys list`)");
    if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut id = [0u8; 4];
    for (i, slot) in id.iter_mut().enumerate() {
        let pair = t.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
        *slot = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(KeyId(id))
}

/// The agent's label, keyring, migration switches and allow-list.
pub(crate) fn from_args(args: &AgentArgs) -> Result<Security, String> {
    let mut keyring: Option<Keyring> = None;
    for path in &args.key_files {
        let key = read_key_file(path)?;
        match &mut keyring {
            None => keyring = Some(Keyring::new(key)),
            Some(ring) => {
                ring.add(key)
                    .map_err(|e| format!("key file {}: {e}", path.display()))?;
            }
        }
    }
    let label = match &args.label {
        Some(l) => Some(Label::new(l).map_err(|e| format!("--label: {e}"))?),
        None => None,
    };
    if (args.accept_plaintext || args.send_plaintext) && label.is_none() && keyring.is_none() {
        return Err(
            "--accept-plaintext / --send-plaintext only apply with --label or --key-file \
             (they are migration switches for turning those on)"
                .into(),
        );
    }
    let envelope = EnvelopeConfig {
        label,
        keyring,
        accept_plaintext: args.accept_plaintext,
        send_plaintext: args.send_plaintext,
    };
    envelope
        .validate()
        .map_err(|e| format!("--send-plaintext requires --accept-plaintext: {e}"))?;
    Ok(Security {
        envelope,
        allow: args.allow.iter().copied().collect::<AllowList>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_round_trip() {
        let id = KeyId([0xde, 0xad, 0x01, 0x9f]);
        assert_eq!(parse_key_id(&id.to_string()).unwrap(), id);
        assert_eq!(parse_key_id("DEAD019F").unwrap(), id);
        assert!(parse_key_text(&"ab".repeat(16))
            .unwrap_err()
            .contains("32 hex digits; expected exactly 64"));
        assert!(parse_key_text(&"ab".repeat(32)).is_ok());
        for bad in ["", "dead019", "dead019f0", "deadbeeg", "+ead019f", "déad01"] {
            assert!(parse_key_id(bad).is_err(), "{bad:?}");
        }
    }
}
