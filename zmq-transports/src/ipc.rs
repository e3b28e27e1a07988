//! `ipc://` endpoints: Unix domain stream sockets.
//!
//! As in libzmq, binding a path first removes a stale socket file left by an earlier run
//! (even one still in use: the newest binder wins), and the file is removed again when the
//! listener is dropped. Unlike libzmq, a path holding anything other than a socket (a regular
//! file, a directory) is never removed: the bind fails with [`Error::AddrInUse`].
//!
//! `ipc://@name` lives in Linux's abstract namespace: no file, nothing to clean up.
//! `ipc://*` binds a fresh path under [`std::env::temp_dir`].

use std::future::poll_fn;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::net::unix::SocketAddr;
use tokio::net::UnixStream;
use tracing::debug;

use crate::endpoint::IpcEndpoint;
use crate::Error;

/// How many fresh names `ipc://*` tries before giving up.
const ANY_PATH_ATTEMPTS: u32 = 16;

/// A bound ipc listener. Dropping it removes the socket file it created.
#[derive(Debug)]
pub struct IpcListener {
    inner: tokio::net::UnixListener,
    endpoint: IpcEndpoint,
    // Declared after `inner` so the socket closes before its file goes.
    _file: Option<SocketFile>,
}

impl IpcListener {
    /// The endpoint actually bound: as given, except that `ipc://*` becomes the path chosen.
    pub fn local_endpoint(&self) -> IpcEndpoint {
        self.endpoint.clone()
    }

    /// Polls for the next incoming connection.
    ///
    /// An error concerns one connection attempt (or a transient shortage such as `EMFILE`);
    /// the listener stays usable.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        self.inner.poll_accept(cx)
    }

    /// Waits for the next incoming connection.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }
}

/// Binds a listener on `endpoint`; see the [module docs](self) for what happens to files.
///
/// Must be called within a Tokio runtime.
pub async fn bind(endpoint: &IpcEndpoint) -> Result<IpcListener, Error> {
    let label = format!("ipc://{endpoint}");
    let (listener, bound, file) = match endpoint {
        IpcEndpoint::Path(path) => {
            remove_stale_socket(path).map_err(|e| Error::io(&label, e))?;
            let listener = StdUnixListener::bind(path).map_err(|e| Error::bind(&label, e))?;
            let file = SocketFile::new(path).map_err(|e| Error::io(&label, e))?;
            (listener, endpoint.clone(), Some(file))
        }
        IpcEndpoint::Abstract(name) => (bind_abstract(name, &label)?, endpoint.clone(), None),
        IpcEndpoint::Any => {
            let (listener, path) = bind_fresh_path().map_err(|e| Error::bind(&label, e))?;
            let file = SocketFile::new(&path).map_err(|e| Error::io(&label, e))?;
            (listener, IpcEndpoint::Path(path), Some(file))
        }
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io(&label, e))?;
    let inner = tokio::net::UnixListener::from_std(listener).map_err(|e| Error::io(&label, e))?;
    debug!(endpoint = %label, bound = %bound, "ipc listener bound");
    Ok(IpcListener {
        inner,
        endpoint: bound,
        _file: file,
    })
}

/// Connects to `endpoint`.
///
/// Must be called within a Tokio runtime.
pub async fn connect(endpoint: &IpcEndpoint) -> Result<UnixStream, Error> {
    let label = format!("ipc://{endpoint}");
    let stream = match endpoint {
        IpcEndpoint::Path(path) => UnixStream::connect(path).await,
        IpcEndpoint::Abstract(name) => connect_abstract(name, &label).await?,
        IpcEndpoint::Any => return Err(Error::WildcardConnect { endpoint: label }),
    }
    .map_err(|e| Error::io(&label, e))?;
    debug!(endpoint = %label, "ipc connected");
    Ok(stream)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn bind_abstract(name: &str, label: &str) -> Result<StdUnixListener, Error> {
    let addr = abstract_addr(name).map_err(|e| Error::io(label, e))?;
    StdUnixListener::bind_addr(&addr).map_err(|e| Error::bind(label, e))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn bind_abstract(_name: &str, label: &str) -> Result<StdUnixListener, Error> {
    Err(Error::Unsupported {
        endpoint: label.to_owned(),
        transport: "ipc (abstract namespace)",
    })
}

/// The outer `Result` is a caller error, the inner one the connect attempt.
///
/// Uses std's `connect_addr` (Tokio only gained one recently, and its path-based connect has
/// treated a leading NUL differently across versions). A Unix connect completes at once
/// unless the listener's backlog is full, when a blocking connect waits: hence the blocking
/// pool.
#[cfg(any(target_os = "linux", target_os = "android"))]
async fn connect_abstract(name: &str, label: &str) -> Result<io::Result<UnixStream>, Error> {
    let addr = abstract_addr(name).map_err(|e| Error::io(label, e))?;
    let connected =
        tokio::task::spawn_blocking(move || std::os::unix::net::UnixStream::connect_addr(&addr))
            .await
            .map_err(io::Error::other)
            .and_then(|connected| connected);
    Ok(connected.and_then(|stream| {
        stream.set_nonblocking(true)?;
        UnixStream::from_std(stream)
    }))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
async fn connect_abstract(_name: &str, label: &str) -> Result<io::Result<UnixStream>, Error> {
    Err(Error::Unsupported {
        endpoint: label.to_owned(),
        transport: "ipc (abstract namespace)",
    })
}

/// Removes `path` if it is a socket (a leftover from an earlier bind); leaves anything else.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            debug!(path = %path.display(), "removing stale ipc socket file");
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Binds a path nobody else uses under the temporary directory, for `ipc://*`.
///
/// The name mixes the pid, a process-wide counter and the clock; an existing file is never
/// replaced (bind fails on it and the next name is tried), so a planted file or symlink
/// cannot redirect the listener.
fn bind_fresh_path() -> io::Result<(StdUnixListener, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let mut last_error = None;
    for _ in 0..ANY_PATH_ATTEMPTS {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "zmq-{}-{count}-{nanos:08x}.ipc",
            std::process::id()
        ));
        match StdUnixListener::bind(&path) {
            Ok(listener) => return Ok((listener, path)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// The socket file a listener created; removed on drop if it is still the same file.
#[derive(Debug)]
struct SocketFile {
    /// Absolute, so a change of working directory cannot redirect the removal.
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn new(path: &Path) -> io::Result<Self> {
        let path = std::path::absolute(path)?;
        let meta = std::fs::symlink_metadata(&path)?;
        Ok(SocketFile {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // If another listener has since replaced the file, it is theirs: leave it.
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| meta.dev() == self.dev && meta.ino() == self.ino);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                debug!(path = %self.path.display(), error = %e, "could not remove ipc socket file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A path unique to this process and call, so tests run in parallel.
    fn unique_path(tag: &str) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("zmq-test-{tag}-{}-{n}.ipc", std::process::id()))
    }

    async fn ping(listener: &IpcListener) {
        let bound = listener.local_endpoint();
        let (client, server) = tokio::join!(connect(&bound), listener.accept());
        let (mut client, (mut server, _)) = (client.unwrap(), server.unwrap());
        client.write_all(b"p").await.unwrap();
        assert_eq!(server.read_u8().await.unwrap(), b'p');
        server.write_all(b"q").await.unwrap();
        assert_eq!(client.read_u8().await.unwrap(), b'q');
    }

    #[tokio::test]
    async fn path_bind_connect_and_file_removed_on_drop() {
        let path = unique_path("drop");
        let listener = bind(&IpcEndpoint::Path(path.clone())).await.unwrap();
        assert_eq!(listener.local_endpoint(), IpcEndpoint::Path(path.clone()));
        ping(&listener).await;
        assert!(path.exists());
        drop(listener);
        assert!(!path.exists(), "socket file must be removed on drop");
    }

    #[tokio::test]
    async fn relative_path_is_bound_and_removed() {
        // Relative to the working directory (the crate directory under `cargo test`).
        let name = unique_path("relative");
        let relative = PathBuf::from(name.file_name().unwrap());
        let listener = bind(&IpcEndpoint::Path(relative.clone())).await.unwrap();
        assert_eq!(
            listener.local_endpoint(),
            IpcEndpoint::Path(relative.clone())
        );
        ping(&listener).await;
        drop(listener);
        assert!(!relative.exists());
    }

    #[tokio::test]
    async fn stale_socket_file_is_replaced() {
        let path = unique_path("stale");
        // A socket file left behind, as by a crashed process: bound, never cleaned up.
        drop(StdUnixListener::bind(&path).unwrap());
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket());
        let listener = bind(&IpcEndpoint::Path(path.clone())).await.unwrap();
        ping(&listener).await;
        drop(listener);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn newest_binder_wins_and_old_listener_leaves_its_file() {
        let path = unique_path("rebind");
        let old = bind(&IpcEndpoint::Path(path.clone())).await.unwrap();
        let new = bind(&IpcEndpoint::Path(path.clone())).await.unwrap();
        drop(old);
        assert!(
            path.exists(),
            "the old listener must not remove the new one's file"
        );
        ping(&new).await;
        drop(new);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn regular_file_is_not_clobbered() {
        let path = unique_path("regular");
        std::fs::write(&path, b"precious").unwrap();
        let result = bind(&IpcEndpoint::Path(path.clone())).await;
        assert!(matches!(result, Err(Error::AddrInUse { .. })), "{result:?}");
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        std::fs::remove_file(&path).unwrap();
    }

    #[tokio::test]
    async fn abstract_namespace() {
        let name = format!("zmq-test-abstract-{}", std::process::id());
        let endpoint = IpcEndpoint::Abstract(name);
        let listener = bind(&endpoint).await.unwrap();
        assert_eq!(listener.local_endpoint(), endpoint);
        ping(&listener).await;
        assert!(matches!(
            bind(&endpoint).await,
            Err(Error::AddrInUse { .. })
        ));
        drop(listener);
        // The name is free again once the listener is gone.
        drop(bind(&endpoint).await.unwrap());
    }

    #[tokio::test]
    async fn any_picks_unique_paths_and_cleans_up() {
        let a = bind(&IpcEndpoint::Any).await.unwrap();
        let b = bind(&IpcEndpoint::Any).await.unwrap();
        let (IpcEndpoint::Path(pa), IpcEndpoint::Path(pb)) =
            (a.local_endpoint(), b.local_endpoint())
        else {
            panic!("ipc://* must resolve to a path");
        };
        assert_ne!(pa, pb);
        assert!(pa.starts_with(std::env::temp_dir()));
        ping(&a).await;
        ping(&b).await;
        drop((a, b));
        assert!(!pa.exists() && !pb.exists());
    }

    #[tokio::test]
    async fn connect_errors() {
        assert!(matches!(
            connect(&IpcEndpoint::Any).await,
            Err(Error::WildcardConnect { .. })
        ));
        match connect(&IpcEndpoint::Path(unique_path("nobody"))).await {
            Err(Error::Io { source, .. }) => assert_eq!(source.kind(), io::ErrorKind::NotFound),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
}
