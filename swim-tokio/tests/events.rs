//! `EventStream`: a node's events as a `futures_core::Stream`, its lag
//! behaviour (oldest events skipped and counted, the stream goes on) and
//! its end once the node stops. Real loopback sockets, `local` timers.

use futures_core::Stream;
use std::pin::Pin;
use std::time::Duration;
use swim_tokio::{Builder, Config, Event, EventStream, Node};

async fn next(stream: &mut EventStream) -> Option<Event<std::net::SocketAddr>> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[tokio::test(flavor = "current_thread")]
async fn stream_yields_events_skips_when_lagging_and_ends() {
    // Capacity 2: five joiners produce more Joined events than that.
    let seed = Builder::new(Config::local())
        .event_capacity(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = seed.events().into_stream();
    let addr = seed.local_addr().to_string();
    let mut others = Vec::new();
    for _ in 0..5 {
        let n = Node::bind("127.0.0.1:0", Config::local()).await.unwrap();
        n.join(&[addr.as_str()]).await.unwrap();
        others.push(n);
    }
    // Wait (without reading the stream) until the seed knows all five.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seed.members().len() < 5 {
        assert!(tokio::time::Instant::now() < deadline, "join timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = tokio::time::timeout(Duration::from_secs(5), next(&mut stream))
        .await
        .expect("an event")
        .expect("not ended");
    assert!(matches!(first, Event::Joined { .. }), "{first:?}");
    assert!(stream.missed() >= 3, "missed {}", stream.missed());
    // The stream ends once the node stopped and the rest was read.
    seed.shutdown().await;
    drop(seed);
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while next(&mut stream).await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the stream did not end after shutdown");
    for n in others {
        n.shutdown().await;
    }
}
