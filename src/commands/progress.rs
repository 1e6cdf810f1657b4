//! The progress bar of `verify`, `stats` and `maintain`: drawn on stderr only when stderr
//! is a terminal and `-q` was not given, and cleared before the report is printed, so
//! the report is the same with and without it.

use actlog::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A bar on stderr, or nothing at all.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar when stderr is a terminal and not `quiet`; otherwise one that draws nothing.
    pub fn new(quiet: bool) -> Bar {
        let shown = !quiet && std::io::stderr().is_terminal();
        Bar {
            bar: shown.then(|| {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} days, {elapsed} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar
            }),
        }
    }
}

impl Progress for Bar {
    fn begin(&self, what: &str, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(what.to_owned());
            bar.set_length(total);
            bar.set_position(0);
            bar.reset_elapsed();
        }
    }

    fn working(&self, label: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(label.to_owned());
        }
    }

    fn step(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn end(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    // An error ends a run before `end`: its one line must not be drawn over by the bar.
    fn drop(&mut self) {
        self.end();
    }
}
