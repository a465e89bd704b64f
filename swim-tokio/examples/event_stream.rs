//! Events as a `Stream`, in a `select!` loop with a shutdown signal: the
//! shape of a service that embeds swim-tokio. Two peers join a node; one
//! crashes; the loop reports everything until Ctrl-C, or until it has seen
//! the crash detected (so the example ends by itself, in CI too).
//!
//! Run: `cargo run -p swim-tokio --example event_stream`

use futures_core::Stream;
use std::pin::Pin;
use std::time::Duration;
use swim_tokio::{Config, Event, EventStream, Node};
use tokio::sync::watch;

/// `StreamExt::next` without pulling in a futures utility crate.
async fn next(stream: &mut EventStream) -> Option<Event<std::net::SocketAddr>> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = Node::bind("127.0.0.1:0", Config::local()).await?;
    // Subscribe before joining so no event is missed.
    let mut events = node.events().into_stream();

    // Shutdown: Ctrl-C, or any part of the program sending `true`.
    let (shutdown_tx, mut shutdown) = watch::channel(false);
    let ctrl_c = shutdown_tx.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = ctrl_c.send(true);
        }
    });

    // Two peers join; one of them will crash (shut down without leaving).
    let seed = node.local_addr().to_string();
    let alice = Node::bind("127.0.0.1:0", Config::local()).await?;
    let bob = Node::bind("127.0.0.1:0", Config::local()).await?;
    alice.join(&[seed.as_str()]).await?;
    bob.join(&[seed.as_str()]).await?;
    let bob_addr = bob.local_addr();

    // A bound on the whole example, should detection not happen.
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    let mut joined = 0;
    loop {
        tokio::select! {
            event = next(&mut events) => match event {
                Some(Event::Joined { member, .. }) => {
                    println!("joined: {member}");
                    joined += 1;
                    if joined == 2 {
                        println!("crashing {bob_addr}");
                        bob.shutdown().await;
                    }
                }
                Some(Event::Failed { member }) => {
                    println!("failed: {member}");
                    if member == bob_addr {
                        let _ = shutdown_tx.send(true);
                    }
                }
                Some(other) => println!("{other:?}"),
                None => break, // The node stopped.
            },
            _ = shutdown.changed() => {
                println!("shutting down (missed {} events)", events.missed());
                break;
            }
            _ = &mut deadline => {
                return Err("no failure detected within 20 s".into());
            }
        }
    }
    alice.leave(Duration::from_secs(1)).await?;
    node.leave(Duration::from_secs(1)).await?;
    Ok(())
}
