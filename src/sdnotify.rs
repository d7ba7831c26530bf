//! Telling systemd what the daemon is doing: the `sd_notify` protocol.
//!
//! With `Type=notify` in the unit, systemd does not consider the service
//! started when the process has been spawned, but when the process says so.
//! The protocol is small: systemd puts the path of a Unix datagram socket
//! in the `NOTIFY_SOCKET` environment variable, and the service sends it
//! datagrams of newline-separated `KEY=VALUE` assignments:
//!
//! | datagram | meaning |
//! |---|---|
//! | `READY=1` | start-up (or a reload) is finished: the store is open, the server listens |
//! | `RELOADING=1` + `MONOTONIC_USEC=…` | a reload (SIGHUP) has begun; send `READY=1` when it ends |
//! | `STOPPING=1` | shutdown has begun (checks are draining) |
//! | `STATUS=…` | one line of free text shown by `systemctl status` |
//! | `WATCHDOG=1` | "still alive": with `WatchdogSec=` set, systemd kills a service that stays silent for that long |
//!
//! The daemon uses it like this:
//!
//! ```no_run
//! use palimpsest::sdnotify::Notifier;
//!
//! # async fn run() {
//! let notifier = std::sync::Arc::new(Notifier::from_env());
//! // ... open the store, bind the listener ...
//! notifier.ready();
//! if let Some(every) = notifier.watchdog_interval() {
//!     let n = notifier.clone();
//!     tokio::spawn(async move {
//!         let mut tick = tokio::time::interval(every);
//!         loop {
//!             tick.tick().await;
//!             n.watchdog();
//!         }
//!     });
//! }
//! // on SIGHUP: notifier.reloading(); load and swap the config; notifier.ready();
//! // on SIGTERM: notifier.stopping();
//! # }
//! ```
//!
//! # Why not just call `sd_notify::notify`
//!
//! The `sd-notify` crate formats the assignments ([`NotifyState`]), reads
//! `CLOCK_MONOTONIC` for `MONOTONIC_USEC`, and reads `WATCHDOG_USEC`; this
//! module uses it for all three. Its `notify` function, though, always
//! sends to the socket named in the environment, so a test would have to
//! set `NOTIFY_SOCKET` for the whole process, which races with every other
//! test running in parallel. [`Notifier`] therefore does the sending itself
//! (one `sendto` on a socket it keeps) to a target chosen at construction:
//! the environment's in production, a test's own socket with
//! [`Notifier::to_socket`].
//!
//! # Failure is never fatal
//!
//! Outside systemd (`cargo run`, docker) there is no `NOTIFY_SOCKET` and
//! every method does nothing. When sending fails, the daemon itself is
//! fine, so the first failure is logged as a warning and later ones only
//! at debug level, instead of once per watchdog ping.

use sd_notify::NotifyState;
use std::ffi::OsStr;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Sends service state changes to the service manager, or nothing.
///
/// Cheap to call from anywhere (`&self`, no allocation beyond the message,
/// no await); share it as `Arc<Notifier>`.
#[derive(Debug)]
pub struct Notifier {
    /// Where datagrams go; `None` makes every method a no-op.
    target: Option<Target>,
    /// The service's `WatchdogSec`, when systemd enabled the watchdog for
    /// this process.
    watchdog: Option<Duration>,
    /// Set after the first failed send has been logged as a warning.
    warned: AtomicBool,
}

#[derive(Debug)]
struct Target {
    /// An unbound datagram socket: the service manager identifies the
    /// sender by its credentials (`NotifyAccess=main` checks the PID), not
    /// by an address.
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier systemd asked for, through `NOTIFY_SOCKET` and
    /// `WATCHDOG_USEC`/`WATCHDOG_PID`.
    ///
    /// The variables are read, never unset: the crate's `*_and_unset_env`
    /// functions are `unsafe` once threads exist, and the daemon starts no
    /// child processes that could inherit them.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        // The crate checks WATCHDOG_PID against our PID: a variable
        // inherited from a parent service is not ours.
        Notifier::from_parts(socket.as_deref(), sd_notify::watchdog_enabled())
    }

    /// A notifier that sends to the datagram socket at `path`, without a
    /// watchdog. For tests: bind a `UnixDatagram` in a temporary directory
    /// and read what the daemon sends.
    pub fn to_socket(path: impl AsRef<Path>) -> Notifier {
        Notifier::from_parts(Some(path.as_ref().as_os_str()), None)
    }

    /// A notifier that does nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
            warned: AtomicBool::new(false),
        }
    }

    /// Pretends the service manager set `WatchdogSec=timeout`, so that
    /// [`Notifier::watchdog_interval`] answers. For tests of the ping loop.
    pub fn with_watchdog(mut self, timeout: Duration) -> Notifier {
        self.watchdog = Some(timeout);
        self
    }

    /// Builds the notifier from the two things systemd passes. An unusable
    /// socket address is logged and leaves the notifier disabled.
    fn from_parts(socket: Option<&OsStr>, watchdog: Option<Duration>) -> Notifier {
        let Some(socket) = socket.filter(|s| !s.is_empty()) else {
            return Notifier::disabled();
        };
        let target = socket_addr(socket).and_then(|addr| {
            Ok(Target {
                socket: UnixDatagram::unbound()?,
                addr,
            })
        });
        match target {
            Ok(target) => Notifier {
                target: Some(target),
                // A watchdog only makes sense with somewhere to send pings.
                watchdog,
                warned: AtomicBool::new(false),
            },
            Err(e) => {
                tracing::warn!(
                    socket = %socket.to_string_lossy(),
                    "cannot use the systemd notify socket: {e}"
                );
                Notifier::disabled()
            }
        }
    }

    /// True when there is a service manager to talk to.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Start-up is done: the daemon is serving. Also ends a reload.
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// A reload has begun (SIGHUP). Call [`Notifier::ready`] when the new
    /// config is in place, or the old one is kept after an error.
    ///
    /// systemd 253 and later want the time of the reload with it, as
    /// `CLOCK_MONOTONIC` microseconds, so that a `READY=1` sent before
    /// the reload request is not taken for its end. `std` has no way to
    /// read that clock (`Instant` hides its value), so the crate's
    /// [`NotifyState::monotonic_usec_now`] reads it.
    pub fn reloading(&self) {
        if self.target.is_none() {
            return;
        }
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(e) => {
                // Practically impossible on Linux; a bare RELOADING=1 is
                // still right for Type=notify.
                tracing::warn!("cannot read CLOCK_MONOTONIC for the reload notice: {e}");
                self.send(&[NotifyState::Reloading]);
            }
        }
    }

    /// Shutdown has begun.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// One line for `systemctl status`, e.g. "100000 watches, 3 checks running".
    ///
    /// The protocol separates assignments with newlines, so any line break
    /// in `text` becomes a space instead of starting a bogus assignment.
    pub fn status(&self, text: &str) {
        if self.target.is_none() {
            return;
        }
        let line: String = text
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        self.send(&[NotifyState::Status(&line)]);
    }

    /// "Still alive": resets systemd's watchdog timer.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// How often to call [`Notifier::watchdog`]: half the service's
    /// `WatchdogSec`, as `sd_watchdog_enabled(3)` recommends, so that one
    /// late tick does not get the service killed. `None` when systemd
    /// enabled no watchdog for this process (or it is zero, which would
    /// make a ticking interval spin).
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.filter(|d| !d.is_zero()).map(|d| d / 2)
    }

    /// Sends one datagram of `states`, each on its own line.
    fn send(&self, states: &[NotifyState<'_>]) {
        let Some(target) = &self.target else {
            return;
        };
        let mut msg = String::new();
        for state in states {
            msg.push_str(&state.to_string());
            msg.push('\n');
        }
        let result = target
            .socket
            .send_to_addr(msg.as_bytes(), &target.addr)
            .and_then(|sent| {
                if sent == msg.len() {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the notification was cut short",
                    ))
                }
            });
        if let Err(e) = result {
            let first = !self.warned.swap(true, Ordering::Relaxed);
            let what = msg.lines().next().unwrap_or_default();
            if first {
                tracing::warn!(
                    "cannot notify systemd ({what}): {e}; later failures are logged at debug level"
                );
            } else {
                tracing::debug!("cannot notify systemd ({what}): {e}");
            }
        }
    }
}

/// The address in `NOTIFY_SOCKET`: a file system path, or, when it starts
/// with `@`, a name in Linux's abstract socket namespace (systemd uses
/// those in containers and for user services in some setups).
fn socket_addr(socket: &OsStr) -> io::Result<SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = socket.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        abstract_addr(name)
    } else {
        SocketAddr::from_pathname(socket)
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket addresses exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A socket playing systemd's part, with a timeout so that a missing
    /// datagram fails the test instead of hanging it.
    fn manager(dir: &tempfile::TempDir) -> (UnixDatagram, std::path::PathBuf) {
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (sock, path)
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn assert_nothing_waiting(sock: &UnixDatagram) {
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        let err = sock.recv(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn is_send_and_sync() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Notifier>();
    }

    #[test]
    fn sends_the_lifecycle_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, path) = manager(&dir);
        let n = Notifier::to_socket(&path);
        assert!(n.is_enabled());

        n.ready();
        assert_eq!(recv(&sock), "READY=1\n");

        let NotifyState::MonotonicUsec(before) = NotifyState::monotonic_usec_now().unwrap() else {
            unreachable!()
        };
        n.reloading();
        let msg = recv(&sock);
        let NotifyState::MonotonicUsec(after) = NotifyState::monotonic_usec_now().unwrap() else {
            unreachable!()
        };
        let lines: Vec<&str> = msg.lines().collect();
        assert_eq!(lines.len(), 2, "{msg:?}");
        assert_eq!(lines[0], "RELOADING=1");
        let usec: i128 = lines[1]
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap_or_else(|| panic!("no MONOTONIC_USEC: {msg:?}"))
            .parse()
            .unwrap();
        assert!(
            before <= usec && usec <= after,
            "{before} <= {usec} <= {after}"
        );
        assert!(msg.ends_with('\n'));

        n.stopping();
        assert_eq!(recv(&sock), "STOPPING=1\n");

        n.watchdog();
        assert_eq!(recv(&sock), "WATCHDOG=1\n");

        n.status("checking\n100 watches");
        assert_eq!(recv(&sock), "STATUS=checking 100 watches\n");
    }

    #[test]
    fn without_a_socket_everything_is_a_no_op() {
        let n = Notifier::from_parts(None, Some(Duration::from_secs(60)));
        assert!(!n.is_enabled());
        assert_eq!(n.watchdog_interval(), None);
        n.ready();
        n.reloading();
        n.status("x");
        n.watchdog();
        n.stopping();

        let n = Notifier::from_parts(Some(OsStr::new("")), None);
        assert!(!n.is_enabled());
    }

    #[test]
    fn watchdog_interval_is_half_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let (_sock, path) = manager(&dir);
        assert_eq!(Notifier::to_socket(&path).watchdog_interval(), None);
        let n = Notifier::to_socket(&path).with_watchdog(Duration::from_secs(60));
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(30)));
        let n = Notifier::from_parts(Some(path.as_os_str()), Some(Duration::ZERO));
        assert_eq!(n.watchdog_interval(), None);
    }

    #[test]
    fn a_missing_socket_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let n = Notifier::to_socket(dir.path().join("nobody-listens.sock"));
        assert!(n.is_enabled());
        n.ready();
        assert!(n.warned.load(Ordering::Relaxed));
        n.watchdog();
        n.stopping();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_socket_names_start_with_at() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!(
            "palimpsest-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        );
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

        let env_value = format!("@{name}");
        let n = Notifier::from_parts(Some(OsStr::new(&env_value)), None);
        n.ready();
        assert_eq!(recv(&sock), "READY=1\n");
        assert_nothing_waiting(&sock);
    }
}
