//! The browser example (`src/bin/ws_browser.rs`, `web/`): headless Chromium loads the page,
//! whose JavaScript ZWS client subscribes to `weather` on the example's PUB over ws:// (and
//! then on libzmq 4.3.5's, from `drafts-peer`), and the page posts the first messages it
//! shows to this test's own HTTP listener.
//!
//! Needs Debian's `chromium-headless-shell` (or `chromium`), which `scripts/install-deps.sh`
//! installs; `ZMQ_BROWSER` names another binary. Without one the test says so and passes,
//! except under CI (`CI` set), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{bin, Program};
use zmq_drafts_peer::{DraftsPeer, Send};

/// Guards every wait against a hang.
const DEADLINE: Duration = Duration::from_secs(120);

/// The headless browser to run, if there is one.
fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ZMQ_BROWSER") {
        return Some(path.into());
    }
    ["chromium-headless-shell", "chromium"]
        .iter()
        .flat_map(|name| ["/usr/bin", "/usr/local/bin"].map(|dir| PathBuf::from(dir).join(name)))
        .find(|path| path.exists())
}

/// Ends a process group when dropped: Debian's `chromium*` commands are shell scripts
/// that start the browser as a child, which starts more; killing the script alone would
/// leave them running.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .status();
    }
}

/// Serves one POST on `listener` (what the page reports), answering 204; its body.
fn one_report(listener: &TcpListener) -> String {
    loop {
        let (stream, _) = listener.accept().expect("accept the page's report");
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("header");
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("content-length");
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let mut stream = reader.into_inner();
        let _ = stream.write_all(
            b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        );
        if request_line.starts_with("POST ") {
            return String::from_utf8_lossy(&body).into_owned();
        }
        // A favicon request or the like: not the report.
    }
}

/// Loads `page` (with `&report=` added) in the headless browser and returns what it
/// reports; `server` is the page's server, whose output goes in a failure's message.
fn shown_by(browser: &Path, page: &str, server: &Program) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let report = format!("http://{}/report", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(one_report(&listener));
    });
    let profile = std::env::temp_dir().join(format!(
        "zmq-browser-test-{}-{}",
        std::process::id(),
        report
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .replace('/', "")
    ));
    let mut chromium = Command::new(browser);
    chromium
        .arg("--headless")
        .arg("--no-sandbox") // as root, Chromium's sandbox refuses to start
        .arg("--disable-gpu")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("{page}&report={report}"))
        .process_group(0);
    let browser_run = Program::spawn(chromium, format!("{}", browser.display()));
    let group = Group(browser_run.id());
    let shown = rx.recv_timeout(DEADLINE).unwrap_or_else(|_| {
        panic!(
            "the page reported nothing; browser output:\n{}\nserver output:\n{}",
            browser_run.output(),
            server.output()
        )
    });
    drop(group);
    drop(browser_run);
    let _ = std::fs::remove_dir_all(&profile);
    shown
}

/// The example's server on OS-chosen ports: the process, its PUB's endpoint, its page.
fn start_example() -> (Program, String, String) {
    let mut cmd = Command::new(bin("ws_browser"));
    cmd.args([
        "--http",
        "127.0.0.1:0",
        "--ws",
        "ws://127.0.0.1:0/updates",
        "--interval-ms",
        "20",
    ]);
    let server = Program::spawn(cmd, "ws_browser".to_owned());
    let ws = server.wait_for_line("publishing on ", DEADLINE)["publishing on ".len()..].to_owned();
    let http = server.wait_for_line("listening on ", DEADLINE)["listening on ".len()..].to_owned();
    (server, ws, http)
}

/// Three `weather` lines (two frames each, never a `sports` one), from `source`, in the
/// order published.
fn check_weather(shown: &str, source: &str) {
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    let mut numbers = Vec::new();
    for line in &lines {
        let (topic, update) = line.split_once(" | ").unwrap_or_else(|| panic!("{shown}"));
        assert_eq!(topic, "weather", "{shown}");
        let n = update
            .strip_prefix(source)
            .unwrap_or_else(|| panic!("{shown}"));
        numbers.push(n.parse::<u64>().unwrap_or_else(|e| panic!("{shown}: {e}")));
    }
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{shown}");
}

/// The browser, or `None` to skip (never under CI).
fn browser_or_skip() -> Option<PathBuf> {
    let found = browser();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no headless Chromium: run scripts/install-deps.sh"
        );
        eprintln!("skipped: no chromium-headless-shell or chromium (scripts/install-deps.sh)");
    }
    found
}

#[test]
fn a_browser_page_subscribes_to_a_pub_over_ws() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let (server, ws, http) = start_example();
    assert!(
        ws.starts_with("ws://127.0.0.1:") && ws.ends_with("/updates"),
        "{ws}"
    );
    let shown = shown_by(&browser, &format!("{http}/?count=3"), &server);
    check_weather(&shown, "weather update ");
}

#[test]
fn the_page_subscribes_to_libzmqs_pub_too() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let (server, _, http) = start_example();
    // libzmq 4.3.5 (with drafts, for ws://) publishing in a thread until the page is done.
    let mut publisher = DraftsPeer::spawn("PUB");
    let endpoint = publisher.bind("ws://127.0.0.1:*").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let publishing = {
        let done = done.clone();
        std::thread::spawn(move || {
            for n in 0u64.. {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                for topic in ["weather", "sports"] {
                    publisher.send(topic.as_bytes(), Send::more()).unwrap();
                    let body = format!("libzmq {n}");
                    publisher.send(body.as_bytes(), Send::default()).unwrap();
                }
                // Paces the publisher only; the test waits for the page's report.
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let shown = shown_by(&browser, &format!("{http}/?count=3&ws={endpoint}"), &server);
    done.store(true, Ordering::Relaxed);
    publishing.join().unwrap();
    check_weather(&shown, "libzmq ");
}
