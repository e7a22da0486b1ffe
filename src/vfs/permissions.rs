//! What a user may do, per virtual path prefix.
//!
//! Permissions are checked inside `UserFs`, never in the front ends, so FTPS and SFTP cannot
//! disagree about what a user may do. Rules are keyed by path prefix; the longest matching
//! prefix wins, so `/` can be read-write while `/shared` is read-only.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use super::path::VirtualPath;

/// A set of operations a user may perform.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u16);

impl Permissions {
    /// No operation at all.
    pub const NONE: Permissions = Permissions(0);
    /// List directory contents and stat entries.
    pub const LIST: Permissions = Permissions(1 << 0);
    /// Read file contents.
    pub const DOWNLOAD: Permissions = Permissions(1 << 1);
    /// Create new files.
    pub const UPLOAD: Permissions = Permissions(1 << 2);
    /// Replace, truncate, append to or write into existing files.
    pub const OVERWRITE: Permissions = Permissions(1 << 3);
    /// Remove files (and symlinks).
    pub const DELETE: Permissions = Permissions(1 << 4);
    /// Rename or move entries.
    pub const RENAME: Permissions = Permissions(1 << 5);
    /// Create directories.
    pub const MKDIR: Permissions = Permissions(1 << 6);
    /// Remove directories.
    pub const RMDIR: Permissions = Permissions(1 << 7);
    /// Change times, mode bits or size through set-attribute requests.
    pub const SET_ATTRIBUTES: Permissions = Permissions(1 << 8);
    /// Create symbolic links and hard links.
    pub const LINK: Permissions = Permissions(1 << 9);
    /// Read-only access.
    pub const READ_ONLY: Permissions = Permissions(Self::LIST.0 | Self::DOWNLOAD.0);
    /// Every operation.
    pub const ALL: Permissions = Permissions((1 << 10) - 1);

    const NAMES: [(&'static str, Permissions); 10] = [
        ("list", Self::LIST),
        ("download", Self::DOWNLOAD),
        ("upload", Self::UPLOAD),
        ("overwrite", Self::OVERWRITE),
        ("delete", Self::DELETE),
        ("rename", Self::RENAME),
        ("mkdir", Self::MKDIR),
        ("rmdir", Self::RMDIR),
        ("set_attributes", Self::SET_ATTRIBUTES),
        ("link", Self::LINK),
    ];

    /// Parses one permission name as written in the users file; `"*"`/`"all"` mean every one.
    pub fn from_name(name: &str) -> Option<Permissions> {
        match name {
            "*" | "all" => Some(Self::ALL),
            "read_only" => Some(Self::READ_ONLY),
            _ => Self::NAMES
                .iter()
                .find(|(candidate, _)| *candidate == name)
                .map(|(_, permission)| *permission),
        }
    }

    /// Every valid name, for error messages and documentation.
    pub fn known_names() -> impl Iterator<Item = &'static str> {
        Self::NAMES.iter().map(|(name, _)| *name)
    }

    /// The names of the permissions in this set, in canonical order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .iter()
            .filter(move |(_, permission)| self.contains(*permission))
            .map(|(name, _)| *name)
    }

    /// True when every permission in `other` is in `self`.
    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The permissions in both sets.
    pub fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }
}

impl BitOr for Permissions {
    type Output = Permissions;
    fn bitor(self, rhs: Permissions) -> Permissions {
        Permissions(self.0 | rhs.0)
    }
}

impl BitOrAssign for Permissions {
    fn bitor_assign(&mut self, rhs: Permissions) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.names()).finish()
    }
}

/// Permissions by path prefix: the longest matching prefix decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionRules {
    /// Sorted deepest first so the first match is the longest prefix.
    rules: Vec<(VirtualPath, Permissions)>,
}

impl PermissionRules {
    /// Rules with one entry for `/`.
    pub fn new(root: Permissions) -> PermissionRules {
        PermissionRules {
            rules: vec![(VirtualPath::root(), root)],
        }
    }

    /// Adds or replaces the rule for `prefix`.
    pub fn set(&mut self, prefix: VirtualPath, permissions: Permissions) {
        self.rules.retain(|(existing, _)| *existing != prefix);
        self.rules.push((prefix, permissions));
        self.rules
            .sort_by_key(|(path, _)| std::cmp::Reverse(path.depth()));
    }

    /// What the user may do at `path`.
    pub fn for_path(&self, path: &VirtualPath) -> Permissions {
        self.rules
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map_or(Permissions::NONE, |(_, permissions)| *permissions)
    }

    /// The rules, deepest first.
    pub fn iter(&self) -> impl Iterator<Item = (&VirtualPath, Permissions)> {
        self.rules
            .iter()
            .map(|(path, permissions)| (path, *permissions))
    }
}

impl Default for PermissionRules {
    fn default() -> PermissionRules {
        PermissionRules::new(Permissions::ALL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> VirtualPath {
        VirtualPath::parse_absolute(text).unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut rules = PermissionRules::new(Permissions::ALL);
        rules.set(path("/shared"), Permissions::READ_ONLY);
        rules.set(
            path("/shared/drop"),
            Permissions::LIST | Permissions::UPLOAD,
        );
        assert_eq!(rules.for_path(&path("/x")), Permissions::ALL);
        assert_eq!(rules.for_path(&path("/shared")), Permissions::READ_ONLY);
        assert_eq!(rules.for_path(&path("/shared/a/b")), Permissions::READ_ONLY);
        assert_eq!(rules.for_path(&path("/sharedx")), Permissions::ALL);
        assert_eq!(
            rules.for_path(&path("/shared/drop/f")),
            Permissions::LIST | Permissions::UPLOAD
        );
    }

    #[test]
    fn names_round_trip() {
        for name in Permissions::known_names() {
            let permission = Permissions::from_name(name).unwrap();
            assert_eq!(permission.names().collect::<Vec<_>>(), vec![name]);
        }
        assert_eq!(Permissions::from_name("*"), Some(Permissions::ALL));
        assert_eq!(Permissions::from_name("bogus"), None);
        assert!(Permissions::ALL.contains(Permissions::LINK));
        assert!(!Permissions::READ_ONLY.contains(Permissions::UPLOAD));
    }

    #[test]
    fn replacing_a_rule_keeps_one_entry() {
        let mut rules = PermissionRules::new(Permissions::ALL);
        rules.set(VirtualPath::root(), Permissions::READ_ONLY);
        assert_eq!(rules.iter().count(), 1);
        assert_eq!(rules.for_path(&path("/a")), Permissions::READ_ONLY);
    }
}
