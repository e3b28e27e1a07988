//! Weather update client (the guide's `wuclient`): a SUB socket connected to
//! `tcp://localhost:5556`, subscribed to one zipcode (first argument, default
//! `"10001 "`), that collects 100 updates and prints the average temperature.
//! A second argument connects elsewhere (`tcp://localhost:8100`: through `wuproxy`).

use zmq_async::SubSocket;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Socket to talk to server
    println!("Collecting updates from weather server...");
    let mut subscriber = SubSocket::new();
    let endpoint = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "tcp://localhost:5556".to_owned());
    subscriber.connect(&endpoint).await?;

    // Subscribe to zipcode, default is NYC, 10001
    let filter = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10001 ".to_owned());
    subscriber.subscribe(&filter)?;

    // Process 100 updates
    let mut total_temp: i64 = 0;
    let updates = 100;
    for _ in 0..updates {
        let msg = subscriber.recv().await?;
        let text = String::from_utf8_lossy(&msg[0]);
        let temperature = text
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| format!("malformed weather update {text:?}"))?
            .parse::<i64>()?;
        total_temp += temperature;
    }
    println!(
        "Average temperature for zipcode '{filter}' was {}F",
        total_temp / updates
    );
    Ok(())
}
