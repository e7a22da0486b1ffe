//! Listing commands: LIST and NLST (RFC 959 §4.1.3), MLSD and MLST (RFC 3659 §7), and STAT with
//! a path (RFC 959 §4.1.3: the listing sent over the control connection).

use std::time::SystemTime;

use crate::vfs::{FileStat, UserFs, VirtualPath};

use super::super::context::{Context, Response, Transfer};
use super::super::data::{Job, ListFormat, Listing};
use super::super::errors;
use super::super::listing::{self, Role};
use super::super::proto::{Reply, ReplyCode};

/// Most entries `STAT <dir>` sends over the control connection.
const MAX_STAT_ENTRIES: usize = 2000;

/// LIST, NLST, MLSD over the data connection. Flags such as `-la` are accepted and ignored
/// (hidden files are always listed). LIST and NLST of a file list that file alone.
pub async fn list(session: &mut Context, text: Option<&str>, kind: Kind) -> Response {
    session.restart_offset = None;
    let (fs, path) = match target(session, text) {
        Ok(found) => found,
        Err(reply) => return refuse(session, reply),
    };
    let stat = match fs.stat(&path).await {
        Ok(stat) => stat,
        Err(error) => return refuse(session, errors::vfs_reply(&error)),
    };
    let job = if stat.is_dir() {
        let lister = match fs.list_dir(&path).await {
            Ok(lister) => lister,
            Err(error) => return refuse(session, errors::vfs_reply(&error)),
        };
        let format = match kind {
            Kind::List => ListFormat::List,
            Kind::Nlst => ListFormat::Nlst,
            Kind::Mlsd => ListFormat::Mlsd(session.facts),
        };
        Job::Listing(Listing {
            fs,
            dir: path.clone(),
            lister,
            format,
        })
    } else {
        let name = path.file_name().unwrap_or_default();
        let mut text = Vec::new();
        match kind {
            Kind::List => listing::list_line(name, &stat, SystemTime::now(), &mut text),
            Kind::Nlst => listing::nlst_line(name, &mut text),
            Kind::Mlsd => {
                let reply = Reply::new(
                    ReplyCode::FileUnavailable,
                    format!("{}: not a directory", path.as_str()),
                );
                return refuse(session, reply);
            }
        }
        Job::Text(text)
    };
    let verb = match kind {
        Kind::List => "LIST",
        Kind::Nlst => "NLST",
        Kind::Mlsd => "MLSD",
    };
    Response::Transfer(Box::new(Transfer {
        preliminary: Reply::new(
            ReplyCode::FileStatusOkay,
            format!("Opening data connection for {verb} {}", path.as_str()),
        ),
        setup: session.take_data_setup(),
        job,
        audit: None,
        done_text: "Directory send OK".to_owned(),
    }))
}

/// MLST: the facts of one object over the control connection (RFC 3659 §7.2).
pub async fn mlst(session: &mut Context, text: Option<&str>) -> Reply {
    let (fs, path) = match target(session, text) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match fs.stat(&path).await {
        Ok(stat) => {
            let permissions = fs.permissions_at(&path);
            let facts = listing::facts(&stat, Role::Entry, permissions, session.facts);
            Reply::multiline(
                ReplyCode::FileActionOkay,
                [
                    format!("Listing {}", path.as_str()),
                    format!(" {facts} {}", path.as_str()),
                    "End".to_owned(),
                ],
            )
        }
        Err(error) => errors::vfs_reply(&error),
    }
}

/// STAT <path>: an `ls -l` listing over the control connection, capped.
pub async fn stat_path(session: &mut Context, text: &str) -> Reply {
    let (fs, path) = match target(session, Some(text)) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let stat = match fs.stat(&path).await {
        Ok(stat) => stat,
        Err(error) => return errors::vfs_reply(&error),
    };
    let mut lines = vec![format!("Status of {}:", path.as_str())];
    let now = SystemTime::now();
    if stat.is_dir() {
        match dir_lines(&fs, &path, now).await {
            Ok(entries) => lines.extend(entries),
            Err(reply) => return reply,
        }
    } else {
        lines.push(line_text(path.file_name().unwrap_or_default(), &stat, now));
    }
    lines.push("End of status".to_owned());
    let code = if stat.is_dir() {
        ReplyCode::DirectoryStatus
    } else {
        ReplyCode::FileStatus
    };
    Reply::multiline(code, lines)
}

async fn dir_lines(fs: &UserFs, path: &VirtualPath, now: SystemTime) -> Result<Vec<String>, Reply> {
    let mut lister = fs.list_dir(path).await.map_err(|e| errors::vfs_reply(&e))?;
    let mut lines = Vec::new();
    loop {
        let batch = lister
            .next_batch(MAX_STAT_ENTRIES)
            .await
            .map_err(|e| errors::vfs_reply(&e))?;
        if batch.is_empty() {
            return Ok(lines);
        }
        for entry in batch {
            if lines.len() >= MAX_STAT_ENTRIES {
                lines.push(format!(
                    "(listing truncated after {MAX_STAT_ENTRIES} entries)"
                ));
                return Ok(lines);
            }
            lines.push(line_text(&entry.name, &entry.stat, now));
        }
    }
}

/// An `ls -l` line without CRLF, with one leading space so it can never pose as a reply end.
fn line_text(name: &str, stat: &FileStat, now: SystemTime) -> String {
    let mut bytes = vec![b' '];
    listing::list_line(name, stat, now, &mut bytes);
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}

fn target(session: &Context, text: Option<&str>) -> Result<(UserFs, VirtualPath), Reply> {
    let path = match text {
        Some(text) => session.resolve(text)?,
        None => session.cwd.clone(),
    };
    match session.user() {
        Some(user) => Ok((user.fs.clone(), path)),
        None => Err(Reply::new(ReplyCode::NotLoggedIn, "Please log in first")),
    }
}

fn refuse(session: &mut Context, reply: Reply) -> Response {
    session.data = super::super::data::DataChannel::None;
    reply.into()
}

/// Which listing a data-channel listing command asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// LIST.
    List,
    /// NLST.
    Nlst,
    /// MLSD.
    Mlsd,
}
