//! File and directory commands: MKD, RMD, DELE, RNFR/RNTO (RFC 959 §4.1.3), SIZE and MDTM
//! (RFC 3659 §3-4), MFMT (draft-somers-ftp-mfxx), SITE CHMOD, HASH (draft-bryan-ftpext-hash),
//! the XSHA256/XSHA1/XMD5/XCRC checksums and AVBL (draft-peterson-streamlined-ftp-command-
//! extensions).

use crate::audit::Action;
use crate::vfs::{HashAlgorithm, UserFs, VirtualPath};

use super::super::context::Context;
use super::super::errors;
use super::super::proto::{ChecksumAlgorithm, Reply, ReplyCode, Timestamp};
use super::navigate::quoted;

/// The user's file system and the resolved path, or the reply that stops the command.
fn target(session: &Context, text: &str) -> Result<(UserFs, VirtualPath), Reply> {
    let path = session.resolve(text)?;
    match session.user() {
        Some(user) => Ok((user.fs.clone(), path)),
        None => Err(Reply::new(ReplyCode::NotLoggedIn, "Please log in first")),
    }
}

macro_rules! target_or_reply {
    ($session:expr, $text:expr) => {
        match target($session, $text) {
            Ok(found) => found,
            Err(reply) => return reply,
        }
    };
}

/// MKD.
pub async fn mkd(session: &mut Context, text: &str) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    let result = fs.create_dir(&path).await;
    session.audited(Action::Mkdir, &path, None, result, |()| {
        Reply::new(
            ReplyCode::PathCreated,
            format!("{} created", quoted(path.as_str())),
        )
    })
}

/// RMD (empty directories only).
pub async fn rmd(session: &mut Context, text: &str) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    let result = fs.remove_dir(&path).await;
    session.audited(Action::Rmdir, &path, None, result, |()| {
        Reply::new(ReplyCode::FileActionOkay, "Directory removed")
    })
}

/// DELE.
pub async fn dele(session: &mut Context, text: &str) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    let result = fs.remove_file(&path).await;
    session.audited(Action::Delete, &path, None, result, |()| {
        Reply::new(ReplyCode::FileActionOkay, "File deleted")
    })
}

/// RNFR: the source must exist; RNTO must follow.
pub async fn rnfr(session: &mut Context, text: &str) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    match fs.lstat(&path).await {
        Ok(_) => {
            session.pending_rename = Some(path);
            Reply::new(ReplyCode::FileActionPending, "Ready for RNTO")
        }
        Err(error) => errors::vfs_reply(&error),
    }
}

/// RNTO: renames, replacing an existing file as POSIX `rename` does.
pub async fn rnto(session: &mut Context, text: &str) -> Reply {
    let Some(from) = session.pending_rename.take() else {
        return Reply::new(ReplyCode::BadSequence, "Send RNFR first");
    };
    let (fs, to) = target_or_reply!(session, text);
    let result = fs.rename(&from, &to, true).await;
    session.audited(Action::Rename, &from, Some(&to), result, |()| {
        Reply::new(ReplyCode::FileActionOkay, "Rename successful")
    })
}

/// SIZE: regular files only (RFC 3659 §4).
pub async fn size(session: &mut Context, text: &str) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    match fs.stat(&path).await {
        Ok(stat) if stat.is_file() => Reply::new(ReplyCode::FileStatus, stat.size.to_string()),
        Ok(_) => not_a_file(&path),
        Err(error) => errors::vfs_reply(&error),
    }
}

/// MDTM: modification time in UTC (RFC 3659 §3).
pub async fn mdtm(session: &mut Context, text: &str) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    match fs.stat(&path).await {
        Ok(stat) if stat.is_file() => match Timestamp::from_system_time(stat.mtime) {
            Ok(time) => Reply::new(ReplyCode::FileStatus, time.to_string()),
            Err(_) => Reply::new(ReplyCode::FileUnavailable, "Time not representable"),
        },
        Ok(_) => not_a_file(&path),
        Err(error) => errors::vfs_reply(&error),
    }
}

/// MFMT (and two-argument MDTM): sets the modification time.
pub async fn mfmt(session: &mut Context, time: Timestamp, text: &str) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    let Ok(system_time) = time.to_system_time() else {
        return Reply::new(ReplyCode::SyntaxErrorInParameters, "Time out of range");
    };
    let result = fs.set_times(&path, system_time, None).await;
    session.audited(Action::SetAttributes, &path, None, result, |()| {
        Reply::new(
            ReplyCode::FileStatus,
            format!("Modify={time}; {}", path.as_str()),
        )
    })
}

/// SITE CHMOD.
pub async fn chmod(session: &mut Context, mode: u32, text: &str) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    let result = fs.set_mode(&path, mode).await;
    session.audited(Action::SetAttributes, &path, None, result, |()| {
        Reply::new(ReplyCode::CommandOkay, "SITE CHMOD command successful")
    })
}

/// AVBL: bytes available to this user where `text` lives.
pub async fn avbl(session: &mut Context, text: Option<&str>) -> Reply {
    let (fs, path) = target_or_reply!(session, text.unwrap_or("."));
    match fs.space(&path).await {
        Ok(space) => Reply::new(ReplyCode::FileStatus, space.available_bytes.to_string()),
        Err(error) => errors::vfs_reply(&error),
    }
}

/// HASH: `213 SHA-256 0-<last> <hex> <path>` with the algorithm chosen by `OPTS HASH`.
pub async fn hash(session: &mut Context, text: &str) -> Reply {
    let algorithm = session.hash_algorithm;
    let (fs, path) = target_or_reply!(session, text);
    let stat = match fs.stat(&path).await {
        Ok(stat) if stat.is_file() => stat,
        Ok(_) => return not_a_file(&path),
        Err(error) => return errors::vfs_reply(&error),
    };
    match fs.hash(&path, algorithm, None).await {
        Ok(digest) => Reply::new(
            ReplyCode::FileStatus,
            format!(
                "{} 0-{} {} {}",
                hash_name(algorithm),
                stat.size.saturating_sub(1),
                hex::encode(digest),
                path.as_str()
            ),
        ),
        Err(error) => errors::vfs_reply(&error),
    }
}

/// XSHA256, XSHA1, XMD5, XCRC: `213 <hex>`; a range is `start end` with `end` exclusive.
pub async fn checksum(
    session: &mut Context,
    algorithm: ChecksumAlgorithm,
    text: &str,
    range: Option<(u64, u64)>,
) -> Reply {
    let (fs, path) = target_or_reply!(session, text);
    let algorithm = match algorithm {
        ChecksumAlgorithm::Sha256 => HashAlgorithm::Sha256,
        ChecksumAlgorithm::Sha1 => HashAlgorithm::Sha1,
        ChecksumAlgorithm::Md5 => HashAlgorithm::Md5,
        ChecksumAlgorithm::Crc32 => HashAlgorithm::Crc32,
    };
    let range = range.map(|(start, end)| (start, end - start));
    match fs.hash(&path, algorithm, range).await {
        Ok(digest) => Reply::new(ReplyCode::FileStatus, hex::encode(digest)),
        Err(error) => errors::vfs_reply(&error),
    }
}

/// The draft-bryan-ftpext-hash name of an algorithm.
pub fn hash_name(algorithm: HashAlgorithm) -> &'static str {
    match algorithm {
        HashAlgorithm::Sha256 => "SHA-256",
        HashAlgorithm::Sha1 => "SHA-1",
        HashAlgorithm::Md5 => "MD5",
        HashAlgorithm::Crc32 => "CRC32",
    }
}

/// The algorithm of a draft-bryan-ftpext-hash name (case-insensitive).
pub fn hash_by_name(name: &str) -> Option<HashAlgorithm> {
    [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha1,
        HashAlgorithm::Md5,
        HashAlgorithm::Crc32,
    ]
    .into_iter()
    .find(|algorithm| hash_name(*algorithm).eq_ignore_ascii_case(name))
}

fn not_a_file(path: &VirtualPath) -> Reply {
    Reply::new(
        ReplyCode::FileUnavailable,
        format!("{}: not a regular file", path.as_str()),
    )
}
