//! Seed addresses: `ip:port` literals, or `host:port` names resolved via DNS.

use std::net::SocketAddr;

/// Resolves every seed, keeping each address of `local`'s family once
/// (a udp4 socket cannot reach a udp6 address, nor the reverse) and never
/// `local` itself. Unresolvable names are logged and skipped.
pub(crate) async fn resolve<S: AsRef<str>>(seeds: &[S], local: SocketAddr) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for seed in seeds {
        let seed = seed.as_ref();
        let found: Vec<SocketAddr> = match seed.parse::<SocketAddr>() {
            Ok(addr) => vec![addr],
            Err(_) => match tokio::net::lookup_host(seed).await {
                Ok(addrs) => addrs.collect(),
                Err(e) => {
                    tracing::warn!(seed, error = %e, "cannot resolve seed");
                    continue;
                }
            },
        };
        for addr in found {
            if addr.is_ipv4() != local.is_ipv4() {
                tracing::debug!(seed, %addr, "skipping seed address of the other family");
            } else if addr != local && !out.contains(&addr) {
                out.push(addr);
            }
        }
        tracing::debug!(seed, resolved = ?out, "seed resolved");
    }
    out
}

/// While the node runs: when it has no live member (not joined yet, or cut
/// off), resolves host-name seeds again every `join_retry_max` and, if the
/// answer changed, joins through the new addresses (DNS may have moved).
pub(crate) async fn refresh(
    inner: std::sync::Weak<crate::driver::Inner>,
    seeds: Vec<String>,
    mut current: Vec<SocketAddr>,
) {
    loop {
        let Some(period) = inner
            .upgrade()
            .map(|i| i.with_core(|c| c.config().join_retry_max))
        else {
            return;
        };
        tokio::time::sleep(period).await;
        let Some(node) = inner.upgrade() else { return };
        if node.is_stopped() {
            return;
        }
        if node.with_core(|c| c.live_members()) > 0 {
            continue;
        }
        let local = node.local;
        drop(node);
        let fresh = resolve(&seeds, local).await;
        if fresh.is_empty() || fresh == current {
            continue;
        }
        let Some(node) = inner.upgrade() else { return };
        tracing::info!(?seeds, old = ?current, new = ?fresh, "seed addresses changed; joining again");
        current = fresh;
        let joined = node.step(|core, now| Ok::<_, crate::Error>(core.join(now, &current)));
        if let Ok(out) = joined {
            node.flush(out).await;
            node.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_names_and_families() {
        let v4: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let got = resolve(
            &[
                "127.0.0.1:2000",
                "[::1]:3000",
                "localhost:4000",
                "127.0.0.1:1000",
            ],
            v4,
        )
        .await;
        assert!(got.contains(&"127.0.0.1:2000".parse().unwrap()));
        assert!(got.contains(&"127.0.0.1:4000".parse().unwrap()));
        assert!(got.iter().all(|a| a.is_ipv4() && *a != v4));
        let v6: SocketAddr = "[::1]:1000".parse().unwrap();
        let got = resolve(&["127.0.0.1:2000", "[::1]:3000", "no such host:1"], v6).await;
        assert_eq!(got, vec!["[::1]:3000".parse::<SocketAddr>().unwrap()]);
    }
}
