//! The origin's example, ported: a bootstrap facilitator and three members
//! join; one member is destroyed (it leaves, telling the others); after a
//! protocol period the survivors print their membership lists.
//!
//! Run: `cargo run -p swim-tokio --example facilitator`

use std::time::Duration;
use swim_tokio::{Builder, Config, Node};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), swim_tokio::Error> {
    // Short timers: everything runs on this host.
    let config = Config::local();
    let period = config.probe_interval;

    // The facilitator answers joins with the most recently joined members.
    let mut facilitator_config = config.clone();
    facilitator_config.facilitator = true;
    let facilitator = Builder::new(facilitator_config).bind("127.0.0.1:0").await?;
    let bootstrap = facilitator.local_addr().to_string();
    println!("facilitator at {bootstrap}");

    // Three members bootstrap through it.
    let mut members = Vec::new();
    for _ in 0..3 {
        let member = Node::bind("127.0.0.1:0", config.clone()).await?;
        member.join(&[bootstrap.as_str()]).await?;
        println!("member at {}", member.local_addr());
        members.push(member);
    }

    // Wait (bounded) until everyone knows everyone: 3 others each.
    let everyone = std::iter::once(&facilitator).chain(&members);
    for node in everyone.clone() {
        for _ in 0..100 {
            if node.members().len() == 3 {
                break;
            }
            tokio::time::sleep(period / 4).await;
        }
    }

    // Destroy one member: it sends its Left notice and stops.
    let destroyed = members.pop().expect("three members");
    println!("destroying {}", destroyed.local_addr());
    destroyed.leave(Duration::from_secs(1)).await?;

    // One protocol period later, the survivors print what they know.
    tokio::time::sleep(period * 2).await;
    for node in std::iter::once(&facilitator).chain(&members) {
        println!("membership list of {}:", node.local_addr());
        for m in node.members() {
            println!(
                "  {:<22} {:?} (incarnation {})",
                m.addr, m.state, m.incarnation
            );
        }
    }
    Ok(())
}
