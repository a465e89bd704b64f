#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects,
    reason = "tests"
)]

use super::*;
use proptest::prelude::*;

/// A plain packet as the wire codec would produce it (magic + version first).
const PACKET: &[u8] = &[0xB1, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07];

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; KEY_LEN]).unwrap()
}

fn nonce(byte: u8) -> [u8; NONCE_LEN] {
    [byte; NONCE_LEN]
}

fn label(s: &str) -> Option<Label> {
    Some(Label::new(s).unwrap())
}

fn plain() -> EnvelopeConfig {
    EnvelopeConfig::default()
}

fn labeled(l: &str) -> EnvelopeConfig {
    EnvelopeConfig {
        label: label(l),
        ..EnvelopeConfig::default()
    }
}

fn keyed(k: u8, l: Option<&str>) -> EnvelopeConfig {
    EnvelopeConfig {
        label: l.and_then(label),
        keyring: Some(Keyring::new(key(k))),
        ..EnvelopeConfig::default()
    }
}

fn seal(cfg: &EnvelopeConfig, packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    cfg.seal(packet, nonce(0x42), &mut out).unwrap();
    out
}

fn open(cfg: &EnvelopeConfig, datagram: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut scratch = Vec::new();
    cfg.open(datagram, &mut scratch).map(<[u8]>::to_vec)
}

fn perr(text: &str) -> Result<KeyId, KeyError> {
    Key::parse(text).map(|k| k.id())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn all_configs() -> Vec<EnvelopeConfig> {
    let mut v = vec![
        plain(),
        labeled("prod"),
        keyed(1, None),
        keyed(1, Some("prod")),
    ];
    for base in v.clone() {
        v.push(EnvelopeConfig {
            accept_plaintext: true,
            ..base.clone()
        });
        v.push(EnvelopeConfig {
            accept_plaintext: true,
            send_plaintext: true,
            ..base
        });
    }
    v
}

#[test]
fn round_trip_in_every_mode_with_exact_overhead() {
    for cfg in all_configs() {
        cfg.validate().unwrap();
        let sealed = seal(&cfg, PACKET);
        assert_eq!(sealed.len(), PACKET.len() + cfg.overhead(), "{cfg:?}");
        assert_eq!(open(&cfg, &sealed).unwrap(), PACKET, "{cfg:?}");
    }
}

#[test]
fn overheads() {
    assert_eq!(SEALED_OVERHEAD, 45);
    assert_eq!(plain().overhead(), 0);
    assert_eq!(labeled("prod").overhead(), 6);
    assert_eq!(keyed(1, None).overhead(), 45);
    assert_eq!(keyed(1, Some("prod")).overhead(), 45);
    assert!(keyed(1, None).encrypts());
    assert!(!labeled("prod").encrypts());
    let migrating = EnvelopeConfig {
        accept_plaintext: true,
        send_plaintext: true,
        ..keyed(1, Some("prod"))
    };
    assert_eq!(migrating.overhead(), 6);
    assert!(!migrating.encrypts());
}

/// Cross-checked against an independent implementation: HChaCha20 written out in Python, then
/// the `cryptography` package's IETF ChaCha20-Poly1305 with the derived subkey and nonce
/// `[0; 4] ‖ nonce[16..24]` (draft-irtf-cfrg-xchacha §2.3).
#[test]
fn golden_sealed_layout() {
    let cfg = keyed(1, Some("prod"));
    let id = key(1).id();
    assert_eq!(
        hex(&id.0),
        "32aae8ff",
        "key ids must never change: peers derive them independently"
    );
    let sealed = seal(&cfg, PACKET);
    assert_eq!(sealed[0], 0xC2);
    assert_eq!(&sealed[1..5], &id.0);
    assert_eq!(&sealed[5..29], &nonce(0x42));
    assert_eq!(sealed.len(), 1 + 4 + 24 + PACKET.len() + 16);
    assert_eq!(
        hex(&sealed),
        concat!(
            "c2",                                               // kind
            "32aae8ff",                                         // key id
            "424242424242424242424242424242424242424242424242", // nonce
            "195744ffec784054",                                 // ciphertext (8 bytes)
            "d7170fd253cc581dbfced84ecd2097b1",                 // tag
        )
    );
}

#[test]
fn golden_labeled_layout() {
    let sealed = seal(&labeled("prod"), PACKET);
    assert_eq!(hex(&sealed), "c10470726f64b101020304050607");
    assert_eq!(seal(&plain(), PACKET), PACKET);
}

#[test]
fn every_tampered_byte_is_rejected() {
    for cfg in [keyed(1, None), keyed(1, Some("prod"))] {
        let sealed = seal(&cfg, PACKET);
        for i in 0..sealed.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut bad = sealed.clone();
                bad[i] ^= flip;
                let err = open(&cfg, &bad).unwrap_err();
                match i {
                    0 => assert!(
                        matches!(
                            err,
                            EnvelopeError::PlaintextRefused | EnvelopeError::UnknownEnvelope(_)
                        ),
                        "byte 0 ^ {flip:#x}: {err:?}"
                    ),
                    1..=4 => assert!(
                        matches!(err, EnvelopeError::UnknownKey(_)),
                        "byte {i}: {err:?}"
                    ),
                    _ => assert_eq!(err, EnvelopeError::AuthFailed, "byte {i}"),
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    for cfg in [keyed(1, None), keyed(1, Some("prod"))] {
        let sealed = seal(&cfg, PACKET);
        for n in 0..sealed.len() {
            let err = open(&cfg, &sealed[..n]).unwrap_err();
            assert!(
                matches!(err, EnvelopeError::Truncated | EnvelopeError::AuthFailed),
                "len {n}: {err:?}"
            );
        }
        // Appended bytes are rejected too: the tag is the last 16 bytes.
        let mut long = sealed.clone();
        long.push(0);
        assert_eq!(open(&cfg, &long), Err(EnvelopeError::AuthFailed));
    }
    // A labeled datagram is rejected until its whole header and a non-empty packet are present
    // (the inner packet's own length is the codec's business).
    let cfg = labeled("prod");
    let sealed = seal(&cfg, PACKET);
    for n in 0..=6 {
        assert_eq!(
            open(&cfg, &sealed[..n]),
            Err(EnvelopeError::Truncated),
            "len {n}"
        );
    }
    assert_eq!(open(&plain(), &[]), Err(EnvelopeError::Truncated));
}

#[test]
fn wrong_key_is_unknown_key() {
    let sealed = seal(&keyed(1, None), PACKET);
    assert_eq!(
        open(&keyed(2, None), &sealed),
        Err(EnvelopeError::UnknownKey(key(1).id()))
    );
}

#[test]
fn wrong_key_under_a_known_id_fails_authentication() {
    // Forge a datagram that names key 2's id but was sealed with key 1.
    let mut sealed = seal(&keyed(1, None), PACKET);
    sealed[1..5].copy_from_slice(&key(2).id().0);
    assert_eq!(
        open(&keyed(2, None), &sealed),
        Err(EnvelopeError::AuthFailed)
    );
}

#[test]
fn label_is_bound_to_sealed_datagrams() {
    let from_prod = seal(&keyed(1, Some("prod")), PACKET);
    assert_eq!(
        open(&keyed(1, Some("staging")), &from_prod),
        Err(EnvelopeError::AuthFailed)
    );
    assert_eq!(
        open(&keyed(1, None), &from_prod),
        Err(EnvelopeError::AuthFailed)
    );
    let unlabeled = seal(&keyed(1, None), PACKET);
    assert_eq!(
        open(&keyed(1, Some("prod")), &unlabeled),
        Err(EnvelopeError::AuthFailed)
    );
    // Migration switches never weaken the label binding.
    let lenient = EnvelopeConfig {
        accept_plaintext: true,
        ..keyed(1, Some("staging"))
    };
    assert_eq!(open(&lenient, &from_prod), Err(EnvelopeError::AuthFailed));
}

#[test]
fn label_only_filters_foreign_clusters() {
    let from_prod = seal(&labeled("prod"), PACKET);
    assert_eq!(
        open(&labeled("staging"), &from_prod),
        Err(EnvelopeError::WrongLabel)
    );
    assert_eq!(
        open(&labeled("pro"), &from_prod),
        Err(EnvelopeError::WrongLabel)
    );
    assert_eq!(open(&plain(), &from_prod), Err(EnvelopeError::WrongLabel));
    assert_eq!(
        open(&labeled("prod"), PACKET),
        Err(EnvelopeError::MissingLabel)
    );
    let lenient = EnvelopeConfig {
        accept_plaintext: true,
        ..labeled("staging")
    };
    assert_eq!(open(&lenient, &from_prod), Err(EnvelopeError::WrongLabel));
    assert_eq!(open(&lenient, PACKET).unwrap(), PACKET);
}

#[test]
fn label_only_and_keyed_modes_do_not_mix() {
    let sealed = seal(&keyed(1, Some("prod")), PACKET);
    assert_eq!(
        open(&labeled("prod"), &sealed),
        Err(EnvelopeError::NoKeyring)
    );
    assert_eq!(open(&plain(), &sealed), Err(EnvelopeError::NoKeyring));
    let labeled_dg = seal(&labeled("prod"), PACKET);
    assert_eq!(
        open(&keyed(1, Some("prod")), &labeled_dg),
        Err(EnvelopeError::PlaintextRefused)
    );
    assert_eq!(
        open(&keyed(1, None), &labeled_dg),
        Err(EnvelopeError::WrongLabel)
    );
}

#[test]
fn plaintext_refused_unless_accepted() {
    let cfg = keyed(1, Some("prod"));
    assert_eq!(open(&cfg, PACKET), Err(EnvelopeError::PlaintextRefused));
    assert_eq!(
        open(&keyed(1, None), PACKET),
        Err(EnvelopeError::PlaintextRefused)
    );
    let lenient = EnvelopeConfig {
        accept_plaintext: true,
        ..cfg
    };
    assert_eq!(open(&lenient, PACKET).unwrap(), PACKET);
    assert_eq!(
        open(&lenient, &seal(&labeled("prod"), PACKET)).unwrap(),
        PACKET
    );
    assert_eq!(
        open(&lenient, &seal(&labeled("other"), PACKET)),
        Err(EnvelopeError::WrongLabel)
    );
    // Still seals, and still opens sealed traffic.
    assert_eq!(open(&lenient, &seal(&lenient, PACKET)).unwrap(), PACKET);
    assert!(lenient.encrypts());
}

#[test]
fn migration_plaintext_to_keyed_has_no_refused_datagram() {
    // Three phases; within each, old and new configurations coexist (rolling restart).
    let old = plain();
    let p1 = EnvelopeConfig {
        accept_plaintext: true,
        send_plaintext: true,
        ..keyed(1, None)
    };
    let p2 = EnvelopeConfig {
        accept_plaintext: true,
        ..keyed(1, None)
    };
    let p3 = keyed(1, None);
    for (a, b) in [(&old, &p1), (&p1, &p2), (&p2, &p3)] {
        for (from, to) in [(a, b), (b, a), (a, a), (b, b)] {
            assert_eq!(
                open(to, &seal(from, PACKET)).unwrap(),
                PACKET,
                "{from:?} -> {to:?}"
            );
        }
    }
    // And label-only to keyed with the same label.
    let old = labeled("prod");
    let p1 = EnvelopeConfig {
        accept_plaintext: true,
        send_plaintext: true,
        ..keyed(1, Some("prod"))
    };
    let p2 = EnvelopeConfig {
        accept_plaintext: true,
        ..keyed(1, Some("prod"))
    };
    let p3 = keyed(1, Some("prod"));
    for (a, b) in [(&old, &p1), (&p1, &p2), (&p2, &p3)] {
        for (from, to) in [(a, b), (b, a)] {
            assert_eq!(
                open(to, &seal(from, PACKET)).unwrap(),
                PACKET,
                "{from:?} -> {to:?}"
            );
        }
    }
}

#[test]
fn validate_rejects_send_without_accept() {
    let cfg = EnvelopeConfig {
        send_plaintext: true,
        ..keyed(1, None)
    };
    assert_eq!(
        cfg.validate(),
        Err(EnvelopeConfigError::SendPlaintextWithoutAccept)
    );
}

#[test]
fn rotation_add_use_remove() {
    let mut a = keyed(1, Some("prod"));
    let mut b = keyed(1, Some("prod"));
    let (k1, k2) = (key(1).id(), key(2).id());
    let old_traffic = seal(&a, PACKET);

    // 1. add k2 everywhere: still sealing with k1, both open.
    for cfg in [&mut a, &mut b] {
        assert_eq!(cfg.keyring.as_mut().unwrap().add(key(2)), Ok(k2));
    }
    assert_eq!(a.keyring.as_ref().unwrap().primary(), k1);
    assert_eq!(open(&b, &seal(&a, PACKET)).unwrap(), PACKET);

    // 2. k2 primary on `a` only (mid-rollout): a↔b still works both ways.
    a.keyring.as_mut().unwrap().use_primary(k2).unwrap();
    let new_traffic = seal(&a, PACKET);
    assert_eq!(&new_traffic[1..5], &k2.0);
    assert_eq!(open(&b, &new_traffic).unwrap(), PACKET);
    assert_eq!(open(&a, &seal(&b, PACKET)).unwrap(), PACKET);
    b.keyring.as_mut().unwrap().use_primary(k2).unwrap();

    // 3. remove k1: k1 traffic is rejected, k2 traffic flows.
    for cfg in [&mut a, &mut b] {
        let ring = cfg.keyring.as_mut().unwrap();
        ring.remove(k1).unwrap();
        assert_eq!(ring.ids().collect::<Vec<_>>(), vec![k2]);
    }
    assert_eq!(open(&b, &old_traffic), Err(EnvelopeError::UnknownKey(k1)));
    assert_eq!(open(&b, &seal(&a, PACKET)).unwrap(), PACKET);
}

#[test]
fn keyring_operations() {
    let mut ring = Keyring::new(key(1));
    let (k1, k2, k3) = (key(1).id(), key(2).id(), key(3).id());
    assert_eq!(ring.len(), 1);
    assert!(!ring.is_empty());
    assert_eq!(ring.remove(k1), Err(KeyringError::RemovePrimary(k1)));
    assert_eq!(ring.remove(k2), Err(KeyringError::UnknownKey(k2)));
    assert_eq!(ring.use_primary(k2), Err(KeyringError::UnknownKey(k2)));
    assert_eq!(ring.add(key(1)), Ok(k1), "re-adding is a no-op");
    assert_eq!(ring.add(key(2)), Ok(k2));
    assert_eq!(ring.add(key(2)), Ok(k2));
    assert_eq!(ring.len(), 2);
    ring.use_primary(k2).unwrap();
    ring.use_primary(k2).unwrap();
    assert_eq!(ring.primary(), k2);
    assert_eq!(ring.remove(k2), Err(KeyringError::RemovePrimary(k2)));
    ring.remove(k1).unwrap();
    assert!(!ring.contains(k1));
    assert!(!ring.contains(k3));
    for b in 10..=24 {
        ring.add(key(b)).unwrap();
    }
    assert_eq!(ring.len(), MAX_KEYS);
    assert_eq!(ring.add(key(3)), Err(KeyringError::Full));
    let debug = format!("{ring:?}");
    assert!(debug.contains(&k2.to_string()), "{debug}");
    assert!(
        !debug.contains("0202020202"),
        "Debug must not print key bytes: {debug}"
    );
}

#[test]
fn distinct_keys_have_distinct_ids() {
    let ids: std::collections::BTreeSet<_> = (1..=255).map(|b| key(b).id()).collect();
    assert_eq!(ids.len(), 255);
}

#[test]
fn key_parsing() {
    let hex_key = "0101010101010101010101010101010101010101010101010101010101010101";
    assert_eq!(Key::parse(hex_key).unwrap().id(), key(1).id());
    assert_eq!(
        perr(&format!("  {}\n", hex_key.to_uppercase())).unwrap(),
        key(1).id()
    );
    // base64 of 32 bytes of 0x01, padded and unpadded.
    let b64 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    assert_eq!(Key::parse(b64).unwrap().id(), key(1).id());
    assert_eq!(
        Key::parse(&format!("{}\n", &b64[..43])).unwrap().id(),
        key(1).id()
    );
    // A key with every base64 digit class: bytes 0..32.
    let seq: [u8; 32] = core::array::from_fn(|i| (i * 8) as u8);
    let b64_seq = "AAgQGCAoMDhASFBYYGhweICIkJigqLC4wMjQ2ODo8Pg=";
    assert_eq!(
        Key::parse(b64_seq).unwrap().id(),
        Key::from_bytes(seq).unwrap().id()
    );
    let b64_hi = "/////////////////////////////////////////w==";
    assert_eq!(perr(b64_hi), Err(KeyError::WrongLength(31)));

    assert_eq!(perr(""), Err(KeyError::Empty));
    assert_eq!(perr(" \n"), Err(KeyError::Empty));
    assert_eq!(perr(&hex_key[..62]), Err(KeyError::WrongLength(31)));
    assert_eq!(perr(&hex_key[..63]), Err(KeyError::BadEncoding));
    // 32 hex digits are 16 bytes (they were misreported as 24: read as base64).
    assert_eq!(perr(&hex_key[..32]), Err(KeyError::WrongLength(16)));
    assert_eq!(perr(&"ab".repeat(100)), Err(KeyError::WrongLength(100)));
    assert_eq!(perr("AQEB"), Err(KeyError::WrongLength(3)));
    assert_eq!(perr("not a key!"), Err(KeyError::BadEncoding));
    assert_eq!(perr("AQEBAQ="), Err(KeyError::BadEncoding), "bad padding");
    assert_eq!(perr("AQEBAQ=="), Err(KeyError::WrongLength(4)));
    assert_eq!(perr("AQ="), Err(KeyError::BadEncoding), "bad padding");
    assert_eq!(
        perr("AR=="),
        Err(KeyError::BadEncoding),
        "non-canonical bits"
    );
    assert_eq!(perr(&"0".repeat(64)), Err(KeyError::AllZero));
    assert_eq!(
        Key::from_slice(&[1; 16]).unwrap_err(),
        KeyError::WrongLength(16)
    );
    assert!(perr("").unwrap_err().to_string().contains("64 hex digits"));
    assert!(!format!("{:?}", key(7)).contains("0707"));
}

#[test]
fn labels_are_validated() {
    assert_eq!(Label::new(""), Err(LabelError::Empty));
    assert_eq!(Label::new([b'x'; 256]), Err(LabelError::TooLong(256)));
    let long = Label::new([b'x'; 255]).unwrap();
    let cfg = EnvelopeConfig {
        label: Some(long.clone()),
        ..keyed(1, None)
    };
    assert_eq!(open(&cfg, &seal(&cfg, PACKET)).unwrap(), PACKET);
    let cfg = EnvelopeConfig {
        label: Some(long),
        ..EnvelopeConfig::default()
    };
    assert_eq!(cfg.overhead(), 257);
    assert_eq!(open(&cfg, &seal(&cfg, PACKET)).unwrap(), PACKET);
}

#[test]
fn envelopes_do_not_nest() {
    for cfg in all_configs() {
        let mut out = vec![9];
        assert_eq!(
            cfg.seal(&[0xC1, 1, b'x', 0xB1], nonce(0), &mut out),
            Err(EnvelopeError::NestedEnvelope)
        );
        assert!(out.is_empty());
        assert_eq!(
            cfg.seal(&[], nonce(0), &mut out),
            Err(EnvelopeError::Truncated)
        );
    }
    // Hand-build a sealed datagram whose inner packet is itself an envelope.
    let cfg = keyed(1, None);
    let ring = cfg.keyring.as_ref().unwrap();
    let entry = ring.primary_entry();
    let mut dg = vec![SEALED];
    dg.extend_from_slice(&entry.id.0);
    dg.extend_from_slice(&nonce(5));
    let mut body = vec![0xC2, 0, 0];
    let tag = entry
        .cipher
        .encrypt_inout_detached(
            &XNonce::from(nonce(5)),
            &dg[..5],
            body.as_mut_slice().into(),
        )
        .unwrap();
    dg.extend_from_slice(&body);
    dg.extend_from_slice(&tag);
    let mut scratch = Vec::new();
    assert_eq!(
        cfg.open(&dg, &mut scratch),
        Err(EnvelopeError::NestedEnvelope)
    );
    assert!(
        scratch.is_empty(),
        "no unauthenticated or rejected plaintext is left behind"
    );
}

#[test]
fn reserved_kinds_are_unknown() {
    for kind in ENVELOPE_RANGE.filter(|&k| k != LABELED && k != SEALED) {
        for cfg in all_configs() {
            assert_eq!(
                open(&cfg, &[kind, 0xB1, 0, 0]),
                Err(EnvelopeError::UnknownEnvelope(kind))
            );
        }
    }
}

#[test]
fn scratch_is_cleared_on_failure_and_reused() {
    let cfg = keyed(1, None);
    let mut sealed = seal(&cfg, PACKET);
    let mut scratch = vec![0xAA; 4096];
    assert_eq!(cfg.open(&sealed, &mut scratch).unwrap(), PACKET);
    *sealed.last_mut().unwrap() ^= 1;
    assert_eq!(
        cfg.open(&sealed, &mut scratch),
        Err(EnvelopeError::AuthFailed)
    );
    assert!(scratch.is_empty());
}

#[test]
fn errors_display() {
    assert_eq!(EnvelopeError::AuthFailed.to_string(), "auth_failed");
    assert_eq!(
        EnvelopeError::UnknownEnvelope(0xC7).to_string(),
        "unknown_envelope (0xc7)"
    );
    assert_eq!(
        EnvelopeError::UnknownKey(KeyId([0xDE, 0xAD, 0xBE, 0xEF])).to_string(),
        "unknown_key (deadbeef)"
    );
}

proptest! {
    #[test]
    fn open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), first in 0xB0u8..=0xCF) {
        let mut bytes = bytes;
        if let Some(b) = bytes.first_mut() {
            *b = first;
        }
        let mut scratch = Vec::new();
        for cfg in all_configs() {
            if let Ok(inner) = cfg.open(&bytes, &mut scratch) {
                // Whatever opens is a non-empty, non-envelope packet.
                prop_assert!(!inner.is_empty());
                prop_assert!(!ENVELOPE_RANGE.contains(&inner[0]));
            }
        }
    }

    #[test]
    fn seal_open_round_trip(body in proptest::collection::vec(any::<u8>(), 0..1500), n in any::<[u8; 24]>()) {
        let mut packet = vec![0xB1];
        packet.extend_from_slice(&body);
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for cfg in all_configs() {
            cfg.seal(&packet, n, &mut out).unwrap();
            prop_assert_eq!(out.len(), packet.len() + cfg.overhead());
            prop_assert_eq!(cfg.open(&out, &mut scratch).unwrap(), &packet[..]);
        }
    }
}
