//! A SUB socket as a `Stream`: the publisher filters by prefix (the
//! subscription), the subscriber's combinators do the rest:
//! `map` parses each update, `filter` keeps the hot ones, `take` stops after five.
//!
//! Everything runs in this process over tcp on 127.0.0.1 (port chosen by the OS).

use futures::{future, StreamExt, TryStreamExt};
use zmq_async::{PubSocket, Result, SubSocket};
use zmq_examples::Rand;

/// One weather update, as the guide's `wuserver` formats it: `"%05d %d %d"`.
#[derive(Debug)]
struct Update {
    zipcode: String,
    temperature: i32,
    relhumidity: i32,
}

fn parse(text: &str) -> Option<Update> {
    let mut fields = text.split_whitespace();
    Some(Update {
        zipcode: fields.next()?.to_owned(),
        temperature: fields.next()?.parse().ok()?,
        relhumidity: fields.next()?.parse().ok()?,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut publisher = PubSocket::new();
    let endpoint = publisher.bind("tcp://127.0.0.1:0").await?;
    tokio::spawn(publish(publisher));

    let mut subscriber = SubSocket::new();
    subscriber.subscribe("1")?; // zipcodes 10000-19999, filtered by the publisher
    subscriber.connect(&endpoint).await?;

    let hot: Vec<Update> = subscriber
        .map_ok(|msg| parse(&String::from_utf8_lossy(&msg[0])))
        .try_filter_map(|update| future::ready(Ok(update))) // drop anything malformed
        .try_filter(|u| future::ready(u.temperature >= 100))
        .take(5)
        .try_collect()
        .await?;

    for u in &hot {
        println!(
            "hot: zipcode {} at {}F, {}% humidity",
            u.zipcode, u.temperature, u.relhumidity
        );
    }
    Ok(())
}

/// The guide's `wuserver` loop: random updates, as fast as the runtime lets it.
async fn publish(mut publisher: PubSocket) -> Result<()> {
    let mut rng = Rand::from_time();
    loop {
        let zipcode = rng.randof(100_000);
        let temperature = rng.randof(215) as i32 - 80;
        let relhumidity = rng.randof(50) + 10;
        publisher
            .send(format!("{zipcode:05} {temperature} {relhumidity}"))
            .await?;
        // A PUB never waits for its subscribers: give the runtime a turn.
        tokio::task::yield_now().await;
    }
}
