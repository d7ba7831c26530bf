//! The running daemon's controls: the config in force, and the ways to
//! change it while the daemon runs.
//!
//! The config in force is the config file validated together with the
//! objects made through the API ([`crate::store::ApiObject`]). It changes
//! in two ways, both validated in full before anything else happens:
//!
//! * **SIGHUP** re-reads the file ([`Control::reload_file`]);
//! * **an API change** keeps the file as it was last loaded and
//!   re-composes it with the new set of objects ([`Control::compose`],
//!   then [`Control::apply`]).
//!
//! A config that does not validate is never applied: the old one stays and
//! the caller gets every problem. The scheduler subscribes to the config
//! ([`Control::subscribe`]) and, when it changes, finishes the running
//! checks and starts again on the new one; the HTTP server reads it.

use crate::config::{Config, ConfigError, validate_source};
use crate::store::{ApiObject, Store};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Whether the daemon takes work (`/readyz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Opening the database, syncing watches.
    Starting,
    Ready,
    /// Shutting down: running checks are finishing.
    Draining,
}

/// The config file as last read, for re-composing it with API objects.
#[derive(Debug, Clone)]
struct Base {
    text: String,
    /// How errors name it.
    file: String,
    /// The file itself, re-read on SIGHUP (`None`: a config given as text).
    path: Option<PathBuf>,
}

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Invalid(#[from] ConfigError),
    #[error("cannot read the objects made through the API: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("this daemon was started without a config file; there is nothing to reload")]
    NoFile,
}

/// The controls, shared by the scheduler, the server and the signal handler.
pub struct Control {
    base: Mutex<Base>,
    config: watch::Sender<Arc<Config>>,
    readiness: watch::Sender<Readiness>,
    check_now: mpsc::Sender<i64>,
    check_rx: Mutex<Option<mpsc::Receiver<i64>>>,
    /// One config change at a time: read objects, validate, write, apply.
    edits: tokio::sync::Mutex<()>,
    /// The systemd notify socket (a no-op without `NOTIFY_SOCKET`).
    pub systemd: crate::sdnotify::Notifier,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Control {
    /// Starts from the config file (its text, and that text validated
    /// alone, which said where the store is) and the API objects in
    /// `store`, validated together. With no API objects the file's config
    /// is the config in force as it is (no second validation). An API
    /// object that no longer fits the file (a watch the file now defines
    /// too, say) is left out with an error in the log, so one bad object
    /// never keeps the daemon from starting.
    pub async fn load<S: Store>(
        path: &Path,
        text: String,
        file_cfg: Config,
        store: &S,
    ) -> Result<Arc<Control>, ReloadError> {
        let base = Base {
            text,
            file: path.display().to_string(),
            path: Some(path.to_path_buf()),
        };
        let objects = store.api_objects().await?;
        let cfg = if objects.is_empty() {
            Arc::new(file_cfg)
        } else {
            drop(file_cfg);
            compose_tolerant(&base, &objects)?
        };
        Ok(Control::new(base, cfg))
    }

    /// Controls for a config given as validated text (tests, `--once`).
    pub fn from_text(text: &str, file: &str, cfg: Arc<Config>) -> Arc<Control> {
        Control::new(
            Base {
                text: text.to_string(),
                file: file.to_string(),
                path: cfg.source.clone(),
            },
            cfg,
        )
    }

    /// Controls for a config whose text is not at hand: it can be applied
    /// but not re-composed (API changes and SIGHUP are refused).
    pub fn fixed(cfg: Arc<Config>) -> Arc<Control> {
        Control::new(
            Base {
                text: String::new(),
                file: String::new(),
                path: None,
            },
            cfg,
        )
    }

    fn new(base: Base, cfg: Arc<Config>) -> Arc<Control> {
        let (check_now, check_rx) = mpsc::channel(256);
        Arc::new(Control {
            base: Mutex::new(base),
            config: watch::Sender::new(cfg),
            readiness: watch::Sender::new(Readiness::Starting),
            check_now,
            check_rx: Mutex::new(Some(check_rx)),
            edits: tokio::sync::Mutex::new(()),
            systemd: crate::sdnotify::Notifier::from_env(),
            metrics: Arc::new(crate::metrics::Metrics::new()),
        })
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// Follows the config in force.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.config.subscribe()
    }

    /// Puts a validated config in force.
    pub fn apply(&self, cfg: Arc<Config>) {
        self.config.send_replace(cfg);
    }

    /// Validates the config file as last read together with `objects`.
    pub fn compose(&self, objects: &[ApiObject]) -> Result<Config, ReloadError> {
        let base = self
            .base
            .lock()
            .map(|b| b.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let mut base = base;
        match &base.path {
            None if base.text.is_empty() && !objects.is_empty() => return Err(ReloadError::NoFile),
            // The text was forgotten (or the file is empty): read it.
            Some(path) if base.text.is_empty() => base.text = Config::read(path)?,
            _ => {}
        }
        compose(&base, objects)
    }

    /// SIGHUP: re-reads the config file and validates it with the API
    /// objects; applies it only if all of it is valid.
    pub async fn reload_file<S: Store>(&self, store: &S) -> Result<(), ReloadError> {
        let _edit = self.edits.lock().await;
        let mut base = self
            .base
            .lock()
            .map(|b| b.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let path = base.path.clone().ok_or(ReloadError::NoFile)?;
        base.text = Config::read(&path)?;
        let objects = store.api_objects().await?;
        let cfg = compose(&base, &objects)?;
        if let Ok(mut b) = self.base.lock() {
            *b = base;
        }
        self.apply(Arc::new(cfg));
        Ok(())
    }

    /// Drops the config file's text (a run that takes no API changes);
    /// SIGHUP still works, it reads the file again.
    pub fn forget_text(&self) {
        if let Ok(mut b) = self.base.lock() {
            b.text = String::new();
        }
    }

    /// Held while an API change reads, validates, writes and applies.
    pub async fn edit(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.edits.lock().await
    }

    /// Asks the scheduler to check a watch now; `false` if it is not running.
    pub fn check_now(&self, watch_id: i64) -> bool {
        self.check_now.try_send(watch_id).is_ok()
    }

    /// The scheduler's end of [`Control::check_now`] (taken once).
    pub(crate) fn take_check_requests(&self) -> Option<mpsc::Receiver<i64>> {
        self.check_rx.lock().ok().and_then(|mut r| r.take())
    }

    pub fn readiness(&self) -> Readiness {
        *self.readiness.borrow()
    }

    pub fn set_readiness(&self, r: Readiness) {
        self.readiness.send_replace(r);
    }
}

fn compose(base: &Base, objects: &[ApiObject]) -> Result<Config, ReloadError> {
    let dir = base.path.as_deref().and_then(Path::parent);
    let mut cfg = if base.text.is_empty() && base.path.is_none() {
        validate_source("", "<defaults>", None)?
    } else {
        Config::compose(&base.text, &base.file, dir, objects)?
    };
    cfg.source = base.path.clone();
    Ok(cfg)
}

/// Like [`compose`], but an API object that makes the whole invalid while
/// the file alone is valid is left out (and logged), one by one.
fn compose_tolerant(base: &Base, objects: &[ApiObject]) -> Result<Arc<Config>, ReloadError> {
    if let Ok(cfg) = compose(base, objects) {
        return Ok(Arc::new(cfg));
    }
    compose(base, &[])?; // the file alone must be valid
    let mut kept: Vec<ApiObject> = Vec::with_capacity(objects.len());
    for obj in objects {
        kept.push(obj.clone());
        if let Err(e) = compose(base, &kept) {
            tracing::error!(
                kind = obj.kind.as_str(),
                name = %obj.name,
                "an object made through the API no longer fits the config and is left out: {e}"
            );
            kept.pop();
        }
    }
    Ok(Arc::new(compose(base, &kept)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectKind;

    const FILE: &str = "[[watch]]\nname = \"a\"\nurl = \"https://example.org/a\"\n";

    fn base() -> Base {
        Base {
            text: FILE.into(),
            file: "p.toml".into(),
            path: None,
        }
    }

    fn watch(name: &str, body: &str) -> ApiObject {
        ApiObject {
            kind: ObjectKind::Watch,
            name: name.into(),
            body: body.into(),
        }
    }

    #[test]
    fn api_objects_are_validated_with_the_file() {
        let b = watch(
            "b",
            "name = \"b\"\nurl = \"https://example.org/b\"\ninterval = \"2h\"\n",
        );
        let cfg = compose(&base(), std::slice::from_ref(&b)).expect("valid");
        let names: Vec<&str> = cfg.watches.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);

        let bad = watch(
            "c",
            "name = \"c\"\nurl = \"https://example.org/c\"\ninterval = \"often\"\n",
        );
        let Err(ReloadError::Invalid(e)) = compose(&base(), &[b, bad]) else {
            panic!("an invalid object must fail the whole");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("watch `c` (made through the API), line 3"),
            "{msg}"
        );
        assert!(msg.contains("often"), "{msg}");
    }

    #[test]
    fn an_object_that_no_longer_fits_the_file_is_left_out_at_start() {
        // The file now defines `a` too: the API's `a` is left out, `b` stays.
        let objects = [
            watch("a", "name = \"a\"\nurl = \"https://example.org/other\"\n"),
            watch("b", "name = \"b\"\nurl = \"https://example.org/b\"\n"),
        ];
        assert!(compose(&base(), &objects).is_err());
        let cfg = compose_tolerant(&base(), &objects).expect("the file is valid");
        let urls: Vec<&str> = cfg.watches.iter().map(|w| w.url.as_str()).collect();
        assert_eq!(urls, ["https://example.org/a", "https://example.org/b"]);
    }

    #[test]
    fn a_forgotten_text_is_read_again_before_composing() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, FILE).expect("write");
        let cfg = Arc::new(validate_source(FILE, "p.toml", None).expect("valid"));
        let control = Control::new(
            Base {
                text: FILE.into(),
                file: "p.toml".into(),
                path: Some(path),
            },
            cfg,
        );
        control.forget_text();
        let b = watch("b", "name = \"b\"\nurl = \"https://example.org/b\"\n");
        let composed = control.compose(&[b]).expect("valid");
        assert_eq!(composed.watches.len(), 2, "the file's watch is kept");
    }
}
