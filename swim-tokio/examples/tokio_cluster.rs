//! A three-node cluster on tokio, top to bottom: bind, subscribe, join,
//! exchange messages, watch a crash be detected, leave.
//!
//! Run: `cargo run -p swim-tokio --example tokio_cluster`

use bytes::Bytes;
use std::time::Duration;
use swim_tokio::{Config, Event, Node};
use tokio::time::timeout;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Three nodes, each on its own UDP socket (udp4 here; "[::1]:0"
    //    would make them udp6). Config::local() has loopback-sized timers.
    let alice = Node::bind("127.0.0.1:0", Config::local()).await?;
    let bob = Node::bind("127.0.0.1:0", Config::local()).await?;
    let carol = Node::bind("127.0.0.1:0", Config::local()).await?;

    // 2. Subscribe before joining so no event is missed.
    let mut events = alice.events();

    // 3. Bob and Carol join through Alice. A seed may also be a DNS name
    //    such as "localhost:7946"; every A/AAAA record is tried.
    let seed = alice.local_addr().to_string();
    bob.join(&[seed.as_str()]).await?;
    carol.join(&[seed.as_str()]).await?;

    // 4. Alice hears about both.
    let mut joined = 0;
    while joined < 2 {
        match timeout(Duration::from_secs(10), events.recv()).await? {
            Some(Event::Joined { member, .. }) => {
                println!("alice: {member} joined");
                joined += 1;
            }
            Some(other) => println!("alice: {other:?}"),
            None => return Err("alice stopped".into()),
        }
    }

    // 5. Application messages ride the same UDP traffic.
    bob.broadcast(Bytes::from_static(b"hello from bob")).await?;
    loop {
        if let Some(Event::Message { from, payload, .. }) =
            timeout(Duration::from_secs(10), events.recv()).await?
        {
            println!("alice: {from} says {:?}", String::from_utf8_lossy(&payload));
            break;
        }
    }

    // 6. Carol crashes (her task stops without a word); Alice's failure
    //    detector notices: first a suspicion, then a failure.
    let carol_addr = carol.local_addr();
    carol.shutdown().await;
    loop {
        match timeout(Duration::from_secs(10), events.recv()).await? {
            Some(Event::Suspected { member }) if member == carol_addr => {
                println!("alice: {member} is suspected");
            }
            Some(Event::Failed { member }) if member == carol_addr => {
                println!("alice: {member} failed");
                break;
            }
            _ => {}
        }
    }

    // 7. Bob leaves gracefully: Alice reports him Left, not Failed.
    let bob_addr = bob.local_addr();
    bob.leave(Duration::from_secs(1)).await?;
    loop {
        if let Some(Event::Left { member }) =
            timeout(Duration::from_secs(10), events.recv()).await?
        {
            println!("alice: {member} left");
            assert_eq!(member, bob_addr);
            break;
        }
    }

    // 8. What Alice knows now.
    for m in alice.members() {
        println!("alice's view: {} {:?}", m.addr, m.state);
    }
    alice.shutdown().await;
    Ok(())
}
