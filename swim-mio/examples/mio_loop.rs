//! Two swim-mio nodes inside one hand-written mio event loop, next to the
//! program's own timer, top to bottom.
//!
//! Run: `cargo run -p swim-mio --example mio_loop`

use mio::{Events, Poll, Token};
use std::time::{Duration, Instant};
use swim_mio::{Config, Event, Node};

// The program chooses the tokens; the nodes only answer to theirs.
const ALICE: Token = Token(1);
const BOB: Token = Token(2);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. One Poll for the whole program.
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(64);

    // 2. Two nodes on loopback, each registered under its own token.
    let mut alice = Node::bind("127.0.0.1:0".parse()?, Config::local())?;
    let mut bob = Node::bind("127.0.0.1:0".parse()?, Config::local())?;
    alice.register(poll.registry(), ALICE)?;
    bob.register(poll.registry(), BOB)?;

    // 3. Bob joins through Alice (a "host:port" name works too).
    bob.join(&[alice.local_addr().to_string()])?;

    // 4. The loop: block until a socket is ready or the earliest deadline
    //    (the nodes' and our own report timer), then hand over what happened.
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut next_report = Instant::now() + Duration::from_millis(500);
    let mut bob_left = false;
    while Instant::now() < give_up {
        let now = Instant::now();
        let timeout = [
            alice.timeout(now),
            bob.timeout(now),
            Some(next_report - now.min(next_report)),
        ]
        .into_iter()
        .flatten()
        .min();
        poll.poll(&mut events, timeout)?;
        for event in events.iter() {
            alice.handle_ready(event, Instant::now());
            if !bob_left {
                bob.handle_ready(event, Instant::now());
            }
        }
        alice.handle_timeout(Instant::now());
        if !bob_left {
            bob.handle_timeout(Instant::now());
        }

        // 5. Events come out of each node in order.
        while let Some(event) = alice.next_event() {
            println!("alice: {event:?}");
            if let Event::Left { .. } = event {
                println!("done");
                return Ok(());
            }
        }
        while let Some(event) = bob.next_event() {
            println!("bob:   {event:?}");
        }

        // 6. Our own timer: report, and once both know each other, Bob
        //    leaves gracefully: his Left notice goes out at once (were the
        //    socket full, we would keep polling until `pending_sends()` is 0).
        if Instant::now() >= next_report {
            next_report += Duration::from_millis(500);
            println!(
                "alice knows {} member(s), bob {}",
                alice.members().count(),
                bob.members().count()
            );
            if !bob_left && alice.members().count() == 1 {
                bob.leave();
                bob_left = true;
                bob.deregister(poll.registry())?;
            }
        }
    }
    Err("timed out".into())
}
