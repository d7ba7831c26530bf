//! palimpsest keeps the record of what web pages said.
//!
//! The crate is a library with a thin binary (`src/main.rs`). One check of
//! one watch flows through the modules in this order, each a folder with one
//! idea and a plain data type at every boundary:
//!
//! ```text
//! schedule  --due watch-->  check  --fetch-->  fetch (policy, limits, charset)
//!                            |  --decoded body-->  extract (main content → lines, title, links)
//!                            |  --text-->  detect (hash compare, diff, events)
//!                            '--CheckRecord-->  store (one transaction: check, blobs, version, events, deliveries)
//! notify (worker: claim due deliveries --> email / webhook --> mark delivered)
//! ```
//!
//! * [`config`]: TOML model, defaults, validation that collects every error.
//! * [`fetch`]: the HTTP client: address policy, limits, conditional GET, charset.
//! * [`extract`]: HTML/JSON/text to normalized lines; the main-content default.
//! * [`detect`]: diffs and the rules that turn versions into events.
//! * [`store`]: the storage trait and its SQLite implementation.
//! * [`check`]: one check from fetch to the record handed to the store.
//! * [`notify`]: alerts: the outbox worker, webhooks, email, digests.
//! * [`schedule`]: due times, jitter, backoff, the daemon loop, shutdown.
//! * [`control`]: the config in force; SIGHUP and API changes; readiness.
//! * [`cli`]: one file per subcommand.
//! * [`server`]: the HTTP side: JSON API, web UI, Atom feeds, metrics, health.
//! * [`metrics`]: Prometheus counters and the scrape text.
//! * [`sdnotify`]: telling systemd about start-up, reloads, shutdown and liveness.
//!
//! See `ARCHITECTURE.md` for the invariants (what may call what).

pub mod check;
pub mod cli;
pub mod config;
pub mod control;
pub mod detect;
pub mod extract;
pub mod fetch;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod schedule;
pub mod sdnotify;
pub mod server;
pub mod store;
