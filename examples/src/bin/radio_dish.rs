//! RADIO/DISH (draft, RFC 48): one RADIO sends weather and traffic reports; two DISHes
//! receive the groups they joined, one of them changing its mind halfway. Everything in
//! one process.
//!
//! `radio_dish [<endpoint>]`: each DISH binds `endpoint` (default `udp://127.0.0.1:0`: a
//! port the OS chooses, one for each DISH) and the RADIO connects to both; `tcp://…:0`
//! works the same. JOINs reach the RADIO asynchronously (over udp they go nowhere: the
//! DISH filters what arrives), and a datagram may be lost, so the RADIO repeats each round's
//! reports until both DISHes have one.

use std::time::Duration;

use zmq_async::{DishSocket, Message, RadioSocket, Result};

/// Rounds of reports before the second DISH switches group, and in all.
const HALF: usize = 3;
const ROUNDS: usize = 6;

#[tokio::main]
async fn main() -> Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "udp://127.0.0.1:0".to_owned());

    let radio = RadioSocket::new();
    let weather = DishSocket::new();
    let commuter = DishSocket::new();
    for (dish, group) in [(&weather, "weather"), (&commuter, "traffic")] {
        dish.join(group)?;
        let bound = dish.bind(&endpoint).await?;
        println!("DISH for {group} bound to {bound}");
        radio.connect(&bound).await?;
    }

    for round in 0..ROUNDS {
        if round == HALF {
            // The commuter now wants the weather instead.
            commuter.leave("traffic")?;
            commuter.join("weather")?;
        }
        let weather_report = format!("round {round}: sunny");
        let traffic_report = format!("round {round}: jam on the ring road");
        // Repeats until each DISH has something of this round (the first rounds may go
        // before the JOINs land; a datagram may be lost).
        let mut got = [false, false];
        while got != [true, true] {
            radio
                .send(Message::from(weather_report.clone()).in_group("weather")?)
                .await?;
            radio
                .send(Message::from(traffic_report.clone()).in_group("traffic")?)
                .await?;
            for (i, (name, dish)) in [("weather", &weather), ("commuter", &commuter)]
                .into_iter()
                .enumerate()
            {
                while let Ok(Ok(msg)) =
                    tokio::time::timeout(Duration::from_millis(50), dish.recv()).await
                {
                    let group = String::from_utf8_lossy(msg.group().unwrap_or_default());
                    let text = String::from_utf8_lossy(&msg[0]);
                    if text.starts_with(&format!("round {round}:")) && !got[i] {
                        println!("{name} got [{group}] {text}");
                        got[i] = true;
                    }
                }
            }
        }
    }
    Ok(())
}
