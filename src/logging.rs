//! Log setup: human-readable text on a terminal, JSON lines on request.
//! `RUST_LOG` (or `--log-level`) filters; the default is `info`.
//! Colours only on a terminal: a log file or the journal gets plain text.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. Logs go to stderr; stdout is for output.
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).unwrap_or_else(|_| EnvFilter::new("info")),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours(std::io::stderr().is_terminal()))
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // Already installed (tests call this more than once): keep the first.
    let _ = result;
}

/// Whether text logs are coloured: on a terminal, unless `NO_COLOR` is set
/// (<https://no-color.org>). Escape codes in a file or the journal are
/// noise to every reader, and styling each span's fields costs time on
/// every check.
fn colours(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_colours_off_a_terminal() {
        assert!(!super::colours(false));
    }
}
