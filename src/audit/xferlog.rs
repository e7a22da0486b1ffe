//! The classic xferlog transfer log (wu-ftpd/vsftpd/ProFTPD format), for existing log tooling.
//!
//! One line per upload, download or delete:
//! `Wed Nov 25 11:38:08 2026 2 192.0.2.7 1048576 /reports/q3.csv b _ i r alice ftp 0 * c`
//! (time, seconds, peer, bytes, path, type, action, direction i/o/d, access mode, user,
//! service `ftp`/`sftp`, auth method, auth user id, completion c/i). Times are UTC. Whitespace
//! in paths becomes `_` so the fields stay splittable, as other servers do.
//!
//! Lines are written by one background thread fed through a bounded channel, so a slow disk
//! never stalls a session; if the channel is full the line is dropped and counted in the log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

use time::OffsetDateTime;

use super::event::{Action, AuditSink, Event, Outcome};
use crate::config::Protocol;

const QUEUE_LINES: usize = 4096;

/// Writes audit events as xferlog lines to a file.
#[derive(Debug)]
pub struct XferLog {
    sender: SyncSender<Message>,
}

enum Message {
    Line(String),
    Reopen,
}

impl XferLog {
    /// Opens (creating, 0640) `path` for appending and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<XferLog> {
        let file = open_append(path)?;
        let (sender, receiver) = sync_channel::<Message>(QUEUE_LINES);
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("ferryd-xferlog".into())
            .spawn(move || write_loop(path, file, receiver))?;
        Ok(XferLog { sender })
    }

    /// Re-opens the file (after logrotate moved it); called on reload.
    pub fn reopen(&self) {
        let _ = self.sender.try_send(Message::Reopen);
    }
}

impl AuditSink for XferLog {
    fn record(&self, event: &Event) {
        let Some(line) = format_line(event, OffsetDateTime::now_utc()) else {
            return;
        };
        if let Err(TrySendError::Full(_)) = self.sender.try_send(Message::Line(line)) {
            tracing::warn!("transfer log queue full; a line was dropped");
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

fn write_loop(path: PathBuf, mut file: File, receiver: std::sync::mpsc::Receiver<Message>) {
    for message in receiver {
        match message {
            Message::Line(line) => {
                if let Err(error) = file.write_all(line.as_bytes()) {
                    tracing::error!(path = %path.display(), %error, "cannot write the transfer log");
                }
            }
            Message::Reopen => match open_append(&path) {
                Ok(reopened) => file = reopened,
                Err(error) => {
                    tracing::error!(path = %path.display(), %error, "cannot reopen the transfer log");
                }
            },
        }
    }
}

/// The xferlog line for `event`, or `None` for events xferlog does not record.
fn format_line(event: &Event, now: OffsetDateTime) -> Option<String> {
    let direction = match event.action {
        Action::Upload => 'i',
        Action::Download => 'o',
        Action::Delete => 'd',
        _ => return None,
    };
    let completion = if event.outcome == Outcome::Ok {
        'c'
    } else {
        'i'
    };
    let service = match event.protocol {
        Protocol::Ftps => "ftp",
        Protocol::Sftp => "sftp",
    };
    let seconds = event.duration.as_secs().max(1);
    let path: String = event
        .path
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let user = if event.user.is_empty() {
        "*"
    } else {
        event.user.as_str()
    };
    Some(format!(
        "{} {seconds} {} {} {path} b _ {direction} r {user} {service} 0 * {completion}\n",
        format_time(now),
        event.peer,
        event.bytes,
    ))
}

fn format_time(now: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[usize::from(now.weekday().number_days_from_monday())],
        MONTHS[usize::from(u8::from(now.month())) - 1],
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::macros::datetime;

    fn event(action: Action, path: &str, outcome: Outcome) -> Event {
        Event {
            action,
            protocol: Protocol::Ftps,
            user: "alice".into(),
            peer: "192.0.2.7".parse().unwrap(),
            path: path.into(),
            target: None,
            bytes: 1_048_576,
            duration: Duration::from_millis(2500),
            outcome,
        }
    }

    #[test]
    fn lines_follow_the_xferlog_layout() {
        let now = datetime!(2026-11-25 11:38:08 UTC);
        assert_eq!(
            format_line(&event(Action::Upload, "/reports/q3 final.csv", Outcome::Ok), now).unwrap(),
            "Wed Nov 25 11:38:08 2026 2 192.0.2.7 1048576 /reports/q3_final.csv b _ i r alice ftp 0 * c\n"
        );
        let aborted = format_line(
            &event(Action::Download, "/a", Outcome::aborted("abor", "ABOR")),
            now,
        )
        .unwrap();
        assert!(aborted.ends_with(" o r alice ftp 0 * i\n"), "{aborted}");
        assert!(format_line(&event(Action::Rename, "/a", Outcome::Ok), now).is_none());
        assert_eq!(
            format_time(datetime!(2026-01-05 01:02:03 UTC)),
            "Mon Jan  5 01:02:03 2026"
        );
    }

    #[test]
    fn lines_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        let log = XferLog::open(&path).unwrap();
        log.record(&event(Action::Upload, "/x", Outcome::Ok));
        log.record(&event(Action::Delete, "/x", Outcome::Ok));
        drop(log);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.lines().count() == 2 {
                assert!(text.lines().nth(1).unwrap().contains(" d r alice "));
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "lines not written: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
