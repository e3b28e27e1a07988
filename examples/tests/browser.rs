//! The browser example (`src/bin/ws_browser.rs`, `web/`): headless Chromium loads the page,
//! whose JavaScript ZWS client subscribes to `weather` on the example's PUB over ws://, and
//! the page posts the first messages it shows to this test's own HTTP listener.
//!
//! Needs Debian's `chromium-headless-shell` (or `chromium`), which `scripts/install-deps.sh`
//! installs; `ZMQ_BROWSER` names another binary. Without one the test says so and passes,
//! except under CI (`CI` set), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::{bin, Program};

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

#[test]
fn a_browser_page_subscribes_to_a_pub_over_ws() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no headless Chromium: run scripts/install-deps.sh"
        );
        eprintln!("skipped: no chromium-headless-shell or chromium (scripts/install-deps.sh)");
        return;
    };
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
    assert!(
        ws.starts_with("ws://127.0.0.1:") && ws.ends_with("/updates"),
        "{ws}"
    );
    let http = server.wait_for_line("listening on ", DEADLINE)["listening on ".len()..].to_owned();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let report = format!("http://{}/report", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(one_report(&listener));
    });

    let profile = std::env::temp_dir().join(format!("zmq-browser-test-{}", std::process::id()));
    let page = format!("{http}/?count=3&report={report}");
    let mut chromium = Command::new(&browser);
    chromium
        .arg("--headless")
        .arg("--no-sandbox") // as root, Chromium's sandbox refuses to start
        .arg("--disable-gpu")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&page)
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
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    for line in &lines {
        // Two frames each, the topic then the update; never a `sports` one.
        let (topic, update) = line.split_once(" | ").unwrap_or_else(|| panic!("{shown}"));
        assert_eq!(topic, "weather", "{shown}");
        assert!(update.starts_with("weather update "), "{shown}");
    }
    // In the order published.
    let numbers: Vec<u64> = lines
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{shown}");
}
