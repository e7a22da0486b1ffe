//! Sweeps for leftover uploads: once in the background right after start, then on a schedule.
//!
//! A `kill -9` or a crash leaves every in-flight upload's temporary file behind (see
//! `vfs::sweep_leftovers`). The first sweep starts after the listeners are serving, so it never
//! delays READY; each sweep reads the current config and users file, so a reload changes the
//! next sweep. A failed sweep is logged and the schedule goes on; shutdown stops a sweep in
//! progress at its next directory entry.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::auth::UserDb;
use crate::config::{Config, LeftoverUploads};
use crate::services::Services;
use crate::vfs::{sweep_leftovers, LeftoverAction, Place, SweepReport};

/// Every local home and folder of the users in `users`, as host paths. Object storage has no
/// leftovers to sweep: an unfinished upload there is an incomplete multipart upload, which the
/// bucket's lifecycle rule removes (docs/storage.md).
pub(super) fn user_dirs(users: &UserDb, data_dir: &std::path::Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for user in users.iter() {
        let spec = user.fs_spec(data_dir);
        let places = std::iter::once(spec.root).chain(spec.mounts.into_iter().map(|m| m.place));
        dirs.extend(places.filter_map(|place| match place {
            Place::Local(dir) => Some(dir),
            Place::Object(_) => None,
        }));
    }
    dirs
}

/// The action `config` asks for.
fn action(config: &Config) -> LeftoverAction {
    match config.server.leftover_uploads {
        LeftoverUploads::Remove => LeftoverAction::Remove,
        LeftoverUploads::Keep => LeftoverAction::Keep,
        LeftoverUploads::Move => LeftoverAction::MoveTo(config.server.leftover_uploads_dir.clone()),
    }
}

/// Starts the sweeps on the server's task tracker, so shutdown waits for the one running.
pub(super) fn spawn(services: &Services) {
    let services = services.clone();
    let tasks = services.tasks.clone();
    tasks.spawn(async move {
        let stop = Arc::new(AtomicBool::new(false));
        loop {
            let config = services.config();
            let roots = user_dirs(&services.auth.users(), services.auth.data_dir());
            let action = action(&config);
            let max_entries = config.server.leftover_scan_max_entries;
            let flag = stop.clone();
            let mut walk = tokio::task::spawn_blocking(move || {
                let result = sweep_leftovers(&roots, &action, max_entries, &flag);
                (action, result)
            });
            let outcome = tokio::select! {
                outcome = &mut walk => outcome,
                () = services.shutdown.cancelled() => {
                    stop.store(true, Ordering::Relaxed);
                    let _ = walk.await;
                    return;
                }
            };
            match outcome {
                Ok((action, Ok(report))) => log_report(&action, &report, max_entries),
                Ok((_, Err(error))) => tracing::error!(%error, "leftover upload sweep failed"),
                Err(error) => tracing::error!(%error, "leftover upload sweep failed"),
            }
            let Some(interval) = services.config().server.leftover_scan_interval else {
                return;
            };
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = services.shutdown.cancelled() => return,
            }
        }
    });
}

/// One line per sweep: what it found and what became of it.
fn log_report(action: &LeftoverAction, report: &SweepReport, max_entries: u64) {
    let action = match action {
        LeftoverAction::Remove => "remove",
        LeftoverAction::Keep => "keep",
        LeftoverAction::MoveTo(_) => "move",
    };
    if report.complete {
        tracing::info!(
            found = report.found,
            bytes = report.bytes,
            action,
            handled = report.handled,
            failed = report.failed,
            dirs = report.roots,
            entries = report.entries,
            "swept leftover uploads"
        );
    } else {
        tracing::warn!(
            found = report.found,
            bytes = report.bytes,
            action,
            handled = report.handled,
            failed = report.failed,
            dirs = report.roots,
            entries = report.entries,
            max_entries,
            "swept leftover uploads, but stopped at server.leftover_scan_max_entries"
        );
    }
}
