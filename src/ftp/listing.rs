//! Directory listing lines: `LIST` in the Unix `ls -l` form FileZilla and WinSCP parse (there is
//! no RFC for it; RFC 959 §4.1.3 leaves LIST's format open), `NLST` names (RFC 959 §4.1.3), and
//! the machine-readable facts of `MLSD`/`MLST` (RFC 3659 §7). Pure formatting; no I/O.
//!
//! Times are UTC everywhere (RFC 3659 §2.3 requires it for facts; LIST follows so that both
//! listings agree).

use std::time::SystemTime;

use crate::vfs::{FileKind, FileStat, Permissions};

use super::proto::Timestamp;

/// The MLST facts ferryd offers (RFC 3659 §7.5), as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts(u8);

/// Fact names in the order they are written, with their bit.
const FACT_NAMES: [(&str, u8); 6] = [
    ("type", 1),
    ("size", 2),
    ("modify", 4),
    ("perm", 8),
    ("unique", 16),
    ("UNIX.mode", 32),
];

impl Facts {
    /// Every supported fact (the default selection).
    pub const ALL: Facts = Facts(63);

    /// The facts named in `OPTS MLST` (case-insensitive); unknown names are ignored.
    pub fn select(names: &[String]) -> Facts {
        let mut bits = 0;
        for name in names {
            if let Some((_, bit)) = FACT_NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                bits |= bit;
            }
        }
        Facts(bits)
    }

    /// `type;size;` etc. for the `OPTS MLST` reply.
    pub fn names(self) -> String {
        self.each().map(|name| format!("{name};")).collect()
    }

    /// The FEAT line: every fact, selected ones marked with `*` (RFC 3659 §7.8).
    pub fn feat_line(self) -> String {
        let mut line = String::from(" MLST ");
        for (name, bit) in FACT_NAMES {
            line.push_str(name);
            if self.0 & bit != 0 {
                line.push('*');
            }
            line.push(';');
        }
        line
    }

    fn each(self) -> impl Iterator<Item = &'static str> {
        FACT_NAMES
            .into_iter()
            .filter(move |(_, bit)| self.0 & bit != 0)
            .map(|(name, _)| name)
    }
}

/// What an MLSx entry is relative to the listed directory (RFC 3659 §7.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An entry inside the listed directory (or the object MLST names).
    Entry,
    /// The listed directory itself (`type=cdir`).
    Current,
}

/// The facts of one object: `type=file;size=12;…;` (without the trailing space and name).
pub fn facts(stat: &FileStat, role: Role, permissions: Permissions, selected: Facts) -> String {
    let mut out = String::with_capacity(128);
    for name in selected.each() {
        let value = match name {
            "type" => match (role, stat.kind) {
                (Role::Current, _) => "cdir".to_owned(),
                (_, FileKind::Dir) => "dir".to_owned(),
                (_, FileKind::File) => "file".to_owned(),
                (_, FileKind::Symlink) => "OS.unix=slink".to_owned(),
                (_, FileKind::Other) => "OS.unix=special".to_owned(),
            },
            "size" => stat.size.to_string(),
            "modify" => match Timestamp::from_system_time(stat.mtime) {
                Ok(time) => time.to_string(),
                Err(_) => continue,
            },
            "perm" => perm_fact(stat.kind, permissions),
            "unique" => format!("{:x}", stat.unique_id),
            _ => format!("0{:o}", stat.mode & 0o7777),
        };
        out.push_str(name);
        out.push('=');
        out.push_str(&value);
        out.push(';');
    }
    out
}

/// One MLSD line: facts, a space, the name, CRLF (RFC 3659 §7.2).
pub fn mlsd_line(name: &str, facts: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(facts.as_bytes());
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// One `ls -l` line with CRLF, e.g. `-rw-r--r--   1 ftp      ftp          12 Mar  4 10:30 a.txt`.
/// Files changed in the last six months show the time, older ones the year (as `ls` does).
pub fn list_line(name: &str, stat: &FileStat, now: SystemTime, out: &mut Vec<u8>) {
    let line = format!(
        "{} {:>4} ftp      ftp      {:>12} {} {name}\r\n",
        stat.ls_mode(),
        stat.nlink.max(1),
        stat.size,
        stat.ls_time(now),
    );
    out.extend_from_slice(line.as_bytes());
}

/// One NLST line: the name and CRLF.
pub fn nlst_line(name: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// RFC 3659 §7.5.5 perm letters for what this user may do with the object.
fn perm_fact(kind: FileKind, permissions: Permissions) -> String {
    let rules: &[(char, Permissions)] = match kind {
        FileKind::Dir => &[
            ('c', Permissions::UPLOAD),
            ('d', Permissions::RMDIR),
            ('e', Permissions::LIST),
            ('f', Permissions::RENAME),
            ('l', Permissions::LIST),
            ('m', Permissions::MKDIR),
            ('p', Permissions::DELETE),
        ],
        _ => &[
            ('a', Permissions::OVERWRITE),
            ('d', Permissions::DELETE),
            ('f', Permissions::RENAME),
            ('r', Permissions::DOWNLOAD),
            ('w', Permissions::OVERWRITE),
        ],
    };
    rules
        .iter()
        .filter(|(_, needed)| permissions.contains(*needed))
        .map(|(letter, _)| *letter)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn stat(kind: FileKind, size: u64, mode: u32, mtime_secs: u64) -> FileStat {
        let mtime = UNIX_EPOCH + Duration::from_secs(mtime_secs);
        FileStat {
            kind,
            size,
            mode,
            mtime,
            atime: mtime,
            uid: 1000,
            gid: 1000,
            nlink: 1,
            unique_id: 0xabc,
        }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn list_lines_look_like_ls() {
        // 2024-03-04 10:30:00 UTC
        let file = stat(FileKind::File, 12, 0o644, 1_709_548_200);
        let now = UNIX_EPOCH + Duration::from_secs(1_709_548_200 + 86_400);
        let mut out = Vec::new();
        list_line("a b.txt", &file, now, &mut out);
        let dir = stat(FileKind::Dir, 4096, 0o1755, 1_546_300_800);
        list_line("-dash", &dir, now, &mut out);
        assert_eq!(
            text(out),
            "-rw-r--r--    1 ftp      ftp                12 Mar  4 10:30 a b.txt\r\n\
             drwxr-xr-t    1 ftp      ftp              4096 Jan  1  2019 -dash\r\n"
        );
    }

    #[test]
    fn facts_follow_the_selection_and_permissions() {
        let file = stat(FileKind::File, 12, 0o640, 1_709_548_200);
        let all = facts(&file, Role::Entry, Permissions::ALL, Facts::ALL);
        assert_eq!(
            all,
            "type=file;size=12;modify=20240304103000;perm=adfrw;unique=abc;UNIX.mode=0640;"
        );
        let dir = stat(FileKind::Dir, 0, 0o755, 0);
        let selected = Facts::select(&["TYPE".into(), "perm".into(), "bogus".into()]);
        let read_only = facts(&dir, Role::Current, Permissions::READ_ONLY, selected);
        assert_eq!(read_only, "type=cdir;perm=el;");
        assert_eq!(selected.names(), "type;perm;");
        assert_eq!(
            Facts::ALL.feat_line(),
            " MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;"
        );
    }
}
