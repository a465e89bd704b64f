//! Logging: `RUST_LOG` in tracing-subscriber's `EnvFilter` syntax (`warn`,
//! `swim_tokio=debug,info`, span and field directives), checked at start:
//! an invalid value stops the agent with the parser's reason instead of
//! being ignored. Every line goes to stderr and to `swim monitor --logs`
//! subscribers.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use tokio::sync::broadcast;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log lines for `monitor --logs`: a subscriber that falls more than this
/// many lines behind misses the oldest.
const LOG_BACKLOG: usize = 1024;

/// Where log lines go besides stderr.
#[derive(Clone)]
pub(crate) struct LogTee {
    tx: broadcast::Sender<Arc<str>>,
}

impl LogTee {
    /// Subscribes to log lines from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }
}

/// One formatted log line, written out when dropped.
pub(crate) struct TeeWriter {
    buf: Vec<u8>,
    tx: broadcast::Sender<Arc<str>>,
}

impl Write for TeeWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for TeeWriter {
    fn drop(&mut self) {
        // A closed stderr must not kill the member.
        let _ = std::io::stderr().lock().write_all(&self.buf);
        if self.tx.receiver_count() > 0 {
            let line = String::from_utf8_lossy(&self.buf);
            let _ = self.tx.send(Arc::from(line.trim_end()));
        }
    }
}

impl<'a> MakeWriter<'a> for LogTee {
    type Writer = TeeWriter;
    fn make_writer(&'a self) -> TeeWriter {
        TeeWriter {
            buf: Vec::new(),
            tx: self.tx.clone(),
        }
    }
}

/// Parses `RUST_LOG` (unset or empty: `info`).
pub(crate) fn filter(value: Option<&str>) -> Result<EnvFilter, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(EnvFilter::new("info")),
        Some(v) => EnvFilter::builder().parse(v).map_err(|e| {
            format!(
                "RUST_LOG {v:?}: {e}; expected a level (error, warn, info, debug, trace) or \
                 target=level,... (tracing-subscriber EnvFilter syntax)"
            )
        }),
    }
}

/// Installs the subscriber; returns the tee for `monitor --logs`.
pub(crate) fn init() -> Result<LogTee, String> {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref())?;
    let (tx, _) = broadcast::channel(LOG_BACKLOG);
    let tee = LogTee { tx };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(tee.clone())
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
    Ok(tee)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_reach_monitor_subscribers() {
        let (tx, _) = broadcast::channel(4);
        let tee = LogTee { tx };
        let mut rx = tee.subscribe();
        {
            let mut w = tee.make_writer();
            w.write_all(b"WARN something happened\n").unwrap();
        }
        assert_eq!(&*rx.try_recv().unwrap(), "WARN something happened");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn rust_log_is_checked() {
        assert!(filter(None).is_ok());
        assert!(filter(Some("warn")).is_ok());
        assert!(filter(Some("swim_tokio=debug,info")).is_ok());
        assert!(filter(Some("info,swim_tokio[join]=debug")).is_ok());
        let e = filter(Some("swim=loud")).unwrap_err();
        assert!(e.contains("RUST_LOG \"swim=loud\""), "{e}");
    }
}
