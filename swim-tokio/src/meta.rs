//! A simple text encoding of `KEY=VALUE` metadata into the opaque bytes the
//! core carries for each member (what `swim agent --meta` uses).
//!
//! The encoding is UTF-8 text, one `key=value` pair per line, separated by a
//! single `\n`, in the order given (no trailing newline). A key is non-empty
//! and contains neither `=` nor `\n`; a value contains no `\n`. The empty
//! list encodes to no bytes. Anything else is simply opaque bytes to this
//! module: [`decode`] returns `None` and callers show it as hex.
//!
//! ```
//! let meta = swim_tokio::meta::encode([("role", "db"), ("dc", "eu-1")]).unwrap();
//! assert_eq!(&meta[..], b"role=db\ndc=eu-1");
//! let pairs = swim_tokio::meta::decode(&meta).unwrap();
//! assert_eq!(pairs, vec![("role", "db"), ("dc", "eu-1")]);
//! ```

use bytes::Bytes;
use core::fmt;

/// Why a pair cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaError {
    /// The offending pair, as given.
    pub pair: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metadata {:?}: {}", self.pair, self.reason)
    }
}

impl std::error::Error for MetaError {}

/// Encodes `key=value` pairs (see the module docs).
pub fn encode<'a, I, K, V>(pairs: I) -> Result<Bytes, MetaError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    let mut out = String::new();
    for (key, value) in pairs {
        let (key, value) = (key.as_ref(), value.as_ref());
        let bad = |reason| MetaError {
            pair: format!("{key}={value}"),
            reason,
        };
        if key.is_empty() {
            return Err(bad("the key is empty"));
        }
        if key.contains(['=', '\n']) {
            return Err(bad("the key contains '=' or a newline"));
        }
        if value.contains('\n') {
            return Err(bad("the value contains a newline"));
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    Ok(Bytes::from(out))
}

/// Parses one command-line `KEY=VALUE` argument into its two halves.
pub fn parse_pair(arg: &str) -> Result<(String, String), MetaError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(MetaError {
            pair: arg.to_owned(),
            reason: "expected KEY=VALUE",
        }),
    }
}

/// Decodes metadata written by [`encode`]; `None` when the bytes are not in
/// that form (metadata set by another program).
pub fn decode(meta: &[u8]) -> Option<Vec<(&str, &str)>> {
    let text = core::str::from_utf8(meta).ok()?;
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split('\n')
        .map(|line| line.split_once('=').filter(|(k, _)| !k.is_empty()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let m = encode([("a", "1"), ("b", "x=y")]).unwrap();
        assert_eq!(decode(&m).unwrap(), vec![("a", "1"), ("b", "x=y")]);
        assert_eq!(
            decode(&encode::<_, &str, &str>([]).unwrap()).unwrap(),
            vec![]
        );
    }

    #[test]
    fn rejects_bad_pairs_and_foreign_bytes() {
        assert!(encode([("", "1")]).is_err());
        assert!(encode([("a=b", "1")]).is_err());
        assert!(encode([("a", "1\n2")]).is_err());
        assert!(parse_pair("novalue").is_err());
        assert_eq!(parse_pair("k=v=w").unwrap(), ("k".into(), "v=w".into()));
        assert_eq!(decode(&[0xff, 0x00]), None);
        assert_eq!(decode(b"no-equals"), None);
    }
}
