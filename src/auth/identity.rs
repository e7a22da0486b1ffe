//! `Identity`: who a logged-in client is and what it may see, fixed at login.
//!
//! An `Identity` is a snapshot: reloading the users file does not change the identity of a
//! session that is already logged in (disabling a user stops new logins, not open sessions).

use std::collections::BTreeSet;
use std::path::Path;

use super::events::AuthMethod;
use super::user_record::UserRecord;
use crate::config::Protocol;
use crate::vfs::FsSpec;

/// A successfully authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user name.
    pub user: String,
    /// The user's file system: home resolved against `data_dir`, mounts resolved, permissions.
    pub fs: FsSpec,
    /// The protocols the user may use (the current one is among them).
    pub protocols: BTreeSet<Protocol>,
    /// FTPS: data connections need not resume the control connection's TLS session.
    pub tls_session_reuse_exempt: bool,
    /// The method of the final, successful step.
    pub method: AuthMethod,
}

impl Identity {
    /// Builds the identity of `user`, resolving directories against `data_dir`.
    pub fn from_record(user: &UserRecord, data_dir: &Path, method: AuthMethod) -> Identity {
        Identity {
            user: user.name.as_str().to_owned(),
            fs: user.fs_spec(data_dir),
            protocols: user.protocols.clone(),
            tls_session_reuse_exempt: user.tls_session_reuse_exempt,
            method,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::Place;
    use std::path::PathBuf;

    #[test]
    fn identity_copies_the_record_and_resolves_home() {
        let mut user = UserRecord::named("alice").unwrap();
        user.tls_session_reuse_exempt = true;
        let identity = Identity::from_record(&user, Path::new("/data"), AuthMethod::Password);
        assert_eq!(identity.user, "alice");
        assert_eq!(identity.fs.root, Place::Local(PathBuf::from("/data/alice")));
        assert_eq!(identity.fs.user, "alice");
        assert!(identity.tls_session_reuse_exempt);
        assert_eq!(identity.protocols.len(), 2);
    }
}
