//! ZeroMQ in the browser: a PUB bound on `ws://` (ZWS 2.0) and a web page that subscribes
//! to it with a small JavaScript ZWS client (`examples/web/zws.js`).
//!
//! ```text
//! ws_browser [--http ADDR:PORT] [--ws ENDPOINT] [--interval-ms MS]
//! ```
//!
//! The PUB binds `--ws` (default `ws://127.0.0.1:8081`) and publishes, every `--interval-ms`
//! (default 500), a `weather` message and a `sports` one, each two frames: the topic, then
//! `<topic> update N`. An axum server on `--http` (default `127.0.0.1:8080`) serves the page
//! at `/` (with the PUB's endpoint filled in) and the client at `/zws.js`. The page
//! subscribes to `weather` (or `?topic=...`) and lists what arrives: the `sports` messages
//! never reach it, since the PUB filters by the page's subscription.
//!
//! On start it prints `publishing on ENDPOINT` (port 0 resolved), then
//! `listening on http://ADDR:PORT`.
//!
//! ```text
//! cargo run --bin ws_browser
//! # then open http://127.0.0.1:8080/ in a browser
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use zmq_async::{Message, PubSocket};

/// The page, with `__ZWS_ENDPOINT__` where the PUB's endpoint goes.
const PAGE: &str = include_str!("../../web/ws_sub.html");
/// The JavaScript ZWS 2.0 client.
const CLIENT: &str = include_str!("../../web/zws.js");

struct Config {
    http: SocketAddr,
    ws: String,
    interval: Duration,
}

fn parse(args: &[String]) -> Result<Config, String> {
    let mut config = Config {
        http: SocketAddr::from(([127, 0, 0, 1], 8080)),
        ws: "ws://127.0.0.1:8081".to_owned(),
        interval: Duration::from_millis(500),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value"))
                .cloned()
        };
        match flag.as_str() {
            "--http" => {
                let v = value()?;
                config.http = v.parse().map_err(|e| format!("--http {v}: {e}"))?;
            }
            "--ws" => config.ws = value()?,
            "--interval-ms" => {
                let v = value()?;
                let ms: u64 = v.parse().map_err(|e| format!("--interval-ms {v}: {e}"))?;
                config.interval = Duration::from_millis(ms.max(1));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match parse(&args) {
        Ok(config) => run(config).await,
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ws_browser: {e}");
            eprintln!("usage: ws_browser [--http ADDR:PORT] [--ws ENDPOINT] [--interval-ms MS]");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let mut publisher = PubSocket::new();
    let endpoint = publisher.bind(&config.ws).await?;
    println!("publishing on {endpoint}");
    let interval = config.interval;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        for n in 1u64.. {
            ticks.tick().await;
            for topic in ["weather", "sports"] {
                let msg: Message = [
                    topic.as_bytes().to_vec(),
                    format!("{topic} update {n}").into_bytes(),
                ]
                .into_iter()
                .collect();
                if let Err(e) = publisher.send(msg).await {
                    eprintln!("publish failed: {e}");
                    return;
                }
            }
        }
    });

    let page: Arc<str> = PAGE.replace("__ZWS_ENDPOINT__", &endpoint).into();
    let app = Router::new()
        .route("/", get(index))
        .route("/zws.js", get(client))
        .with_state(page);
    let listener = tokio::net::TcpListener::bind(config.http).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn index(State(page): State<Arc<str>>) -> Html<String> {
    Html(page.to_string())
}

async fn client() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], CLIENT)
}
