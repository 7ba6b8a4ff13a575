//! The log of a server that runs inside another language's process.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Logs to stderr at `level` (`error`, `warn`, `info`, `debug` or a filter such as
/// `oxserve_server=debug`; Seldon's `WARNING` spelling is accepted); the `OXSERVE_LOG` variable
/// overrides it, as it does for the `oxserve` command.
///
/// stderr, because the host's stdout belongs to the user's program (R's console, a Java
/// application's output); colours only when stderr is a terminal, so that log files stay plain.
/// A second server in the same process keeps the first one's settings: the process has one
/// global subscriber.
pub fn init_logging(level: &str) {
    let filter =
        EnvFilter::try_from_env("OXSERVE_LOG").unwrap_or_else(|_| EnvFilter::new(tracing_level(level)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// `level` in tracing's spelling.
fn tracing_level(level: &str) -> String {
    match level.to_ascii_lowercase().as_str() {
        "warning" => "warn".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seldon_level_names_are_tracing_ones() {
        assert_eq!(tracing_level("WARNING"), "warn");
        assert_eq!(tracing_level("Info"), "info");
        assert_eq!(tracing_level("oxserve_server=debug"), "oxserve_server=debug");
    }
}
