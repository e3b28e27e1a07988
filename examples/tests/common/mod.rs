//! Running the example programs as processes: spawn, feed stdin, wait with a
//! deadline, collect output, kill on drop; and the lock that keeps the guide's
//! fixed ports (5555-5560) to one scenario at a time.

#![allow(dead_code)] // each test file uses a part

use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A built example binary, by name.
pub fn bin(name: &str) -> &'static str {
    match name {
        "demo" => env!("CARGO_BIN_EXE_demo"),
        "hwserver" => env!("CARGO_BIN_EXE_hwserver"),
        "hwclient" => env!("CARGO_BIN_EXE_hwclient"),
        "wuserver" => env!("CARGO_BIN_EXE_wuserver"),
        "wuclient" => env!("CARGO_BIN_EXE_wuclient"),
        "taskvent" => env!("CARGO_BIN_EXE_taskvent"),
        "taskwork" => env!("CARGO_BIN_EXE_taskwork"),
        "tasksink" => env!("CARGO_BIN_EXE_tasksink"),
        "rrclient" => env!("CARGO_BIN_EXE_rrclient"),
        "rrworker" => env!("CARGO_BIN_EXE_rrworker"),
        "rrbroker" => env!("CARGO_BIN_EXE_rrbroker"),
        "msgqueue" => env!("CARGO_BIN_EXE_msgqueue"),
        "wuproxy" => env!("CARGO_BIN_EXE_wuproxy"),
        "pipeline_forward" => env!("CARGO_BIN_EXE_pipeline_forward"),
        "select_two" => env!("CARGO_BIN_EXE_select_two"),
        "sub_filter" => env!("CARGO_BIN_EXE_sub_filter"),
        "stream_http" => env!("CARGO_BIN_EXE_stream_http"),
        "client_server" => env!("CARGO_BIN_EXE_client_server"),
        "radio_dish" => env!("CARGO_BIN_EXE_radio_dish"),
        "mcast_pub" => env!("CARGO_BIN_EXE_mcast_pub"),
        "mcast_sub" => env!("CARGO_BIN_EXE_mcast_sub"),
        "http_gateway" => env!("CARGO_BIN_EXE_http_gateway"),
        "ws_browser" => env!("CARGO_BIN_EXE_ws_browser"),
        other => panic!("no example binary {other}"),
    }
}

/// Debian's interpreter, which has pyzmq (the `python3` on PATH may not).
const PYTHON: &str = "/usr/bin/python3";

/// Whether `/usr/bin/python3` can `import zmq`.
pub fn pyzmq_available() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import zmq"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Which implementation of a guide program to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// Ours, the example binary.
    Rust,
    /// pyzmq (libzmq), `examples/pyzmq/NAME.py`.
    Py,
}

impl Impl {
    fn tag(self) -> &'static str {
        match self {
            Impl::Rust => "rust",
            Impl::Py => "pyzmq",
        }
    }
}

/// A running program. Killed (and reaped) when dropped.
pub struct Program {
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Everything printed so far, and a signal for each new piece.
    output: Arc<(Mutex<Vec<u8>>, Condvar)>,
    readers: Vec<JoinHandle<()>>,
}

impl Program {
    /// Starts `name` (a guide program) in the given implementation, with
    /// `ZMQ_EXAMPLES_FAST=1`.
    pub fn start(which: Impl, name: &str, args: &[&str]) -> Program {
        let mut cmd = match which {
            Impl::Rust => Command::new(bin(name)),
            Impl::Py => {
                let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "pyzmq", &format!("{name}.py")]
                    .iter()
                    .collect();
                let mut cmd = Command::new(PYTHON);
                cmd.arg("-u").arg(script);
                cmd
            }
        };
        cmd.args(args);
        Program::spawn(cmd, format!("{} {name} {}", which.tag(), args.join(" ")))
    }

    /// Starts an arbitrary command.
    pub fn spawn(mut cmd: Command, label: String) -> Program {
        cmd.env("ZMQ_EXAMPLES_FAST", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let output = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let mut readers = Vec::new();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped stdout"));
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped stderr"));
        for mut stream in [stdout, stderr] {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let (text, grew) = &*output;
                    text.lock()
                        .expect("output lock")
                        .extend_from_slice(&buf[..n]);
                    grew.notify_all();
                }
            }));
        }
        let stdin = child.stdin.take();
        Program {
            label,
            child,
            stdin,
            output,
            readers,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Writes a line to the program's stdin (e.g. the Enter `taskvent` waits for).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Everything the program printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.0.lock().expect("output lock")).into_owned()
    }

    /// Waits until the program has printed a whole line containing `needle`
    /// and returns that line; panics (with the output) after `timeout`.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (text, grew) = &*self.output;
        let mut text = text.lock().expect("output lock");
        loop {
            let output = String::from_utf8_lossy(&text);
            // Whole lines only: a read may end mid-line.
            let whole = output.rsplit_once('\n').map_or("", |(whole, _)| whole);
            if let Some(line) = whole.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} printed no line with {needle:?} within {timeout:?}; output:\n{output}",
                self.label
            );
            text = grew.wait_timeout(text, left).expect("output lock").0;
        }
    }

    /// Waits for the program to exit by itself; panics (with its output) if it
    /// does not within `timeout` or exits with a failure.
    pub fn wait_success(&mut self, timeout: Duration) -> String {
        let status = self.wait_exit(timeout);
        let output = self.finish_output();
        assert!(
            status.success(),
            "{} exited with {status}; output:\n{output}",
            self.label
        );
        output
    }

    /// Waits for the program to exit; panics (with its output) after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let output = self.finish_output();
                panic!(
                    "{} did not finish within {timeout:?}; output:\n{output}",
                    self.label
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the program (servers run forever) and returns its output.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.finish_output()
    }

    /// The full output once the program has exited (waits for the reader threads).
    fn finish_output(&mut self) -> String {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.output()
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Holds the guide's ports (5555-5560) for this process while alive: an
/// abstract unix socket name only one process can bind, released even if the
/// process dies. Serialises the fixed-port scenarios across test functions,
/// test binaries and worktrees on this machine.
pub struct PortLock {
    _listener: UnixListener,
}

/// Waits (up to ten minutes) for the guide's ports and takes them.
pub fn lock_guide_ports() -> PortLock {
    let addr = SocketAddr::from_abstract_name(b"zmq-rs-examples-zguide-ports-5555-5560")
        .expect("abstract socket name");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        match UnixListener::bind_addr(&addr) {
            Ok(listener) => {
                return PortLock {
                    _listener: listener,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cannot take the guide ports' lock: {e}"),
        }
    }
}

/// How many times `needle` occurs in `haystack`.
pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}
