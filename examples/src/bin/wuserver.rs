//! Weather update server (the guide's `wuserver`): a PUB socket bound on
//! `tcp://*:5556` that publishes random `"%05d %d %d"` updates (zipcode,
//! temperature, relative humidity) as fast as it can, forever.

use zmq_async::{PubSocket, Result};
use zmq_examples::Rand;

#[tokio::main]
async fn main() -> Result<()> {
    let mut publisher = PubSocket::new();
    publisher.bind("tcp://*:5556").await?;

    let mut rng = Rand::from_time();
    loop {
        // Get values that will fool the boss
        let zipcode = rng.randof(100_000);
        let temperature = rng.randof(215) as i32 - 80;
        let relhumidity = rng.randof(50) + 10;

        // Send message to all subscribers
        let update = format!("{zipcode:05} {temperature} {relhumidity}");
        publisher.send(update).await?;
    }
}
