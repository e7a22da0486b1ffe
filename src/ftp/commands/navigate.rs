//! Working directory commands: PWD/XPWD, CWD/XCWD, CDUP/XCUP (RFC 959 §4.1.1 and §4.1.3, with
//! the PWD reply quoting of RFC 959 Appendix II).

use super::super::context::Context;
use super::super::errors;
use super::super::proto::{Reply, ReplyCode};

/// PWD: `257 "/path" is the current directory`, inner quotes doubled.
pub fn pwd(session: &Context) -> Reply {
    Reply::new(
        ReplyCode::PathCreated,
        format!("{} is the current directory", quoted(session.cwd.as_str())),
    )
}

/// CWD (and CDUP as `CWD ..`): only into directories the user may list.
pub async fn cwd(session: &mut Context, text: &str) -> Reply {
    let path = match session.resolve(text) {
        Ok(path) => path,
        Err(reply) => return reply,
    };
    let Some(user) = session.user() else {
        return Reply::new(ReplyCode::NotLoggedIn, "Please log in first");
    };
    match user.fs.stat(&path).await {
        Ok(stat) if stat.is_dir() => {
            let reply = Reply::new(
                ReplyCode::FileActionOkay,
                format!("Directory changed to {}", path.as_str()),
            );
            session.cwd = path;
            reply
        }
        Ok(_) => Reply::new(
            ReplyCode::FileUnavailable,
            format!("{}: not a directory", path.as_str()),
        ),
        Err(error) => errors::vfs_reply(&error),
    }
}

/// A path in double quotes with inner quotes doubled (RFC 959 Appendix II).
pub fn quoted(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}
