//! The thread-safe draft types from many tasks at once: one SERVER socket whose requests
//! three worker tasks take and answer, each reply addressed by the routing id its request
//! carries; one CLIENT socket from which four tasks send requests and take replies, all
//! through `&self` on a shared socket (no locks or channels of ours).
//!
//! `client_server [<endpoint>]` (default `tcp://127.0.0.1:0`, a port chosen by the OS;
//! `ipc://…` and `inproc://…` work the same). Runs on Tokio's multi-thread runtime, so
//! the tasks do run at the same time.

use std::sync::Arc;

use zmq_async::{ClientSocket, Message, Result, ServerSocket};

const WORKERS: usize = 3;
const REQUESTERS: usize = 4;
const REQUESTS: usize = 25;

#[tokio::main]
async fn main() -> Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:0".to_owned());

    let server = Arc::new(ServerSocket::new());
    let endpoint = server.bind(&endpoint).await?;
    println!("SERVER bound to {endpoint}");
    for worker in 0..WORKERS {
        let server = server.clone();
        tokio::spawn(async move {
            while let Ok(request) = server.recv().await {
                // The SERVER stamped the request with its sender's routing id.
                let Some(client) = request.routing_id() else {
                    continue;
                };
                let text = String::from_utf8_lossy(&request[0]).into_owned();
                let reply = Message::from(format!("{text} answered by worker {worker}"));
                if server.send(reply.to(client)).await.is_err() {
                    return;
                }
            }
        });
    }

    let client = Arc::new(ClientSocket::new());
    client.connect(&endpoint).await?;
    let mut requesters = Vec::new();
    for requester in 0..REQUESTERS {
        let client = client.clone();
        requesters.push(tokio::spawn(async move {
            for i in 0..REQUESTS {
                client.send(format!("request {requester}-{i}")).await?;
                // Any of the requesters may take any reply: they share one socket.
                let reply = client.recv().await?;
                if i == 0 {
                    println!(
                        "requester {requester}: {}",
                        String::from_utf8_lossy(&reply[0])
                    );
                }
            }
            Ok::<_, zmq_async::Error>(())
        }));
    }
    for requester in requesters {
        requester.await.expect("requester task panicked")?;
    }
    println!(
        "{} requests from {REQUESTERS} tasks on one CLIENT, answered by {WORKERS} tasks on one SERVER",
        REQUESTERS * REQUESTS
    );
    Ok(())
}
