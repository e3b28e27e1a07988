//! The demo that `bash scripts/demo.sh` runs: four ZeroMQ patterns end to end
//! in one process, over real tcp connections on 127.0.0.1 (ports chosen by the
//! OS, so it never collides with the guide's 5555-5560):
//!
//! 1. REQ/REP: hello world.
//! 2. PUB/SUB: the publisher only sends what the subscriber subscribed to.
//! 3. PUSH/PULL: a ventilator fans tasks out to two workers, a sink collects.
//! 4. ROUTER/DEALER: a router answers two dealers by their routing ids.
//!
//! Exits 0 when every exchange happened as expected, 1 otherwise.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use zmq_async::{
    DealerSocket, Message, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    SocketOptions, SubSocket,
};

const ANY_PORT: &str = "tcp://127.0.0.1:0";

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let started = Instant::now();
    println!("zmq-rs demo: ZeroMQ sockets that .await, over tcp on 127.0.0.1\n");
    let all = async {
        req_rep().await?;
        pub_sub().await?;
        push_pull().await?;
        router_dealer().await
    };
    match tokio::time::timeout(Duration::from_secs(10), all).await {
        Ok(Ok(())) => {
            println!("\ndone in {} ms", started.elapsed().as_millis());
            std::process::ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("demo failed: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("demo failed: timed out");
            std::process::ExitCode::FAILURE
        }
    }
}

fn text(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).into_owned()
}

/// A socket error, or an exchange that did not go as it should.
type Outcome = std::result::Result<(), Box<dyn std::error::Error>>;

/// REQ/REP: three requests, three replies, strictly alternating.
async fn req_rep() -> Outcome {
    let mut rep = RepSocket::new();
    let endpoint = rep.bind(ANY_PORT).await?;
    let mut req = ReqSocket::new();
    req.connect(&endpoint).await?;
    println!("REQ/REP on {endpoint}");
    for i in 1..=3 {
        req.send(format!("Hello {i}")).await?;
        let request = rep.recv().await?;
        rep.send(format!("World {i}")).await?;
        let reply = req.recv().await?;
        println!(
            "  REQ sent {:?}, REP replied {:?}",
            text(&request[0]),
            text(&reply[0])
        );
    }
    Ok(())
}

/// PUB/SUB: the subscriber asks for "weather."; sports never reach it.
async fn pub_sub() -> Outcome {
    let mut publisher = PubSocket::new();
    let endpoint = publisher.bind(ANY_PORT).await?;
    let mut subscriber = SubSocket::new();
    subscriber.subscribe("weather.")?;
    subscriber.connect(&endpoint).await?;
    println!("PUB/SUB on {endpoint}, SUB subscribed to \"weather.\"");

    // A subscription travels to the publisher asynchronously and a PUB drops what
    // nobody asked for: publish a hello until the first one arrives.
    loop {
        publisher.send("weather.hello").await?;
        let wait = tokio::time::timeout(Duration::from_millis(10), subscriber.recv());
        if let Ok(msg) = wait.await {
            msg?;
            break;
        }
    }
    let sent = [
        "weather.nyc 21C",
        "sports.nba Knicks 104 Celtics 99",
        "weather.sfo 15C fog",
        "sports.mlb Giants 3 Dodgers 2",
        "weather.end",
    ];
    for m in sent {
        publisher.send(m).await?;
    }
    let mut got = Vec::new();
    loop {
        let msg = text(&subscriber.recv().await?[0]);
        if msg == "weather.hello" {
            continue; // the tail of the hellos
        }
        if msg == "weather.end" {
            break;
        }
        got.push(msg);
    }
    println!("  PUB sent {} messages, SUB got only {got:?}", sent.len());
    if got != ["weather.nyc 21C", "weather.sfo 15C fog"] {
        return Err(format!("PUB/SUB filtering: got {got:?}").into());
    }
    Ok(())
}

/// PUSH/PULL: a ventilator, two workers that square numbers, a sink.
async fn push_pull() -> Outcome {
    let mut ventilator = PushSocket::new();
    let tasks = ventilator.bind(ANY_PORT).await?;
    let mut sink = PullSocket::new();
    let results = sink.bind(ANY_PORT).await?;
    println!("PUSH/PULL: ventilator {tasks} -> 2 workers -> sink {results}");

    for name in ["worker-a", "worker-b"] {
        let mut inbox = PullSocket::new();
        inbox.connect(&tasks).await?;
        let mut outbox = PushSocket::new();
        outbox.connect(&results).await?;
        tokio::spawn(async move {
            // A worker is a stream of tasks mapped into a sink of results.
            let work = inbox.map(move |task| {
                let n: u64 = text(&task?[0]).parse().unwrap_or(0);
                Ok(Message::from(format!("{name} {n}^2={}", n * n)))
            });
            work.forward(outbox).await
        });
    }
    // PUSH load-balances over the workers connected when it sends: wait for both.
    while ventilator.peer_count() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in 1..=10 {
        ventilator.send(n.to_string()).await?;
    }
    let mut per_worker = [0; 2];
    let mut squares = Vec::new();
    for _ in 0..10 {
        let result = text(&sink.recv().await?[0]);
        let (worker, square) = result.split_once(' ').unwrap_or_default();
        per_worker[usize::from(worker == "worker-b")] += 1;
        squares.push(square.to_owned());
    }
    squares.sort_by_key(|s| s.split('^').next().and_then(|n| n.parse::<u64>().ok()));
    println!("  sink got {}", squares.join(" "));
    println!(
        "  worker-a did {}, worker-b did {}",
        per_worker[0], per_worker[1]
    );
    if squares.len() != 10 || per_worker.contains(&0) {
        return Err(format!("PUSH/PULL fan-out: {squares:?}, {per_worker:?}").into());
    }
    Ok(())
}

/// ROUTER/DEALER: the router sees who sent what and answers each by name.
async fn router_dealer() -> Outcome {
    let mut router = RouterSocket::new();
    let endpoint = router.bind(ANY_PORT).await?;
    println!("ROUTER/DEALER on {endpoint}");
    let mut dealers = Vec::new();
    for name in ["alice", "bob"] {
        let mut options = SocketOptions::default();
        options.routing_id = Some(Bytes::from_static(name.as_bytes()));
        let mut dealer = DealerSocket::with_options(options)?;
        dealer.connect(&endpoint).await?;
        dealer.send(format!("hi from {name}")).await?;
        dealers.push((name, dealer));
    }
    for _ in 0..dealers.len() {
        let msg = router.recv().await?;
        let (id, body) = (text(&msg[0]), text(&msg[1]));
        println!("  ROUTER got [{id:?}, {body:?}]");
        let reply: Message = [id.clone(), format!("hello {id}")].into_iter().collect();
        router.send(reply).await?;
    }
    for (name, dealer) in &mut dealers {
        let reply = text(&dealer.recv().await?[0]);
        println!("  DEALER {name} got {reply:?}");
        if reply != format!("hello {name}") {
            return Err(format!("ROUTER/DEALER: {name} got {reply:?}").into());
        }
    }
    Ok(())
}
