//! Command handlers, grouped by concern: `login` (USER, PASS, AUTH, PBSZ, PROT, CCC, HOST,
//! QUIT), `navigate` (PWD, CWD, CDUP), `files` (MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT,
//! SITE CHMOD, checksums, AVBL), `transfer` (PASV, EPSV, PORT, EPRT, TYPE, MODE, STRU, REST,
//! RETR, STOR, STOU, APPE, ABOR), `listing` (LIST, NLST, MLSD, MLST, STAT) and `info` (SYST,
//! FEAT, HELP, OPTS, NOOP, SITE HELP).
//!
//! The session (`session.rs`) has already checked the command's policy when [`run`] is called;
//! handlers see only the [`Context`] and never import the session module.

mod files;
mod info;
mod listing;
mod login;
mod navigate;
mod transfer;

use super::context::{Context, Response};
use super::proto::{Command, Reply, ReplyCode, Site};
use listing::Kind;

/// Runs the handler of `command`.
pub async fn run(session: &mut Context, command: Command) -> Response {
    use Command as C;
    match command {
        C::User(name) => login::user(session, name).await,
        C::Pass(password) => login::pass(session, password.as_str()).await,
        C::Quit => login::quit(session),
        C::Auth(mechanism) => login::auth(session, mechanism),
        C::Pbsz(size) => login::pbsz(session, size).into(),
        C::Prot(level) => login::set_protection(session, level).into(),
        C::Ccc => login::ccc().into(),
        C::Host(name) => login::host(session, &name).into(),
        C::Noop => Reply::new(ReplyCode::CommandOkay, "NOOP ok").into(),
        C::Syst => Reply::new(ReplyCode::SystemType, "UNIX Type: L8").into(),
        C::Feat => info::feat(session).into(),
        C::Opts(options) => info::opts(session, options).into(),
        C::Help(topic) => info::help(topic.as_deref()).into(),
        C::Stat(None) => info::status(session).into(),
        C::Stat(Some(path)) => listing::stat_path(session, &path).await.into(),
        C::Site(Site::Help) => info::site_help().into(),
        C::Site(Site::Chmod { mode, path }) => files::chmod(session, mode, &path).await.into(),
        C::Site(Site::Other(_)) => Reply::new(
            ReplyCode::NotImplemented,
            "Unknown SITE command; try SITE HELP",
        )
        .into(),
        C::Type(kind) => transfer::set_type(session, kind).into(),
        C::Mode => Reply::new(ReplyCode::CommandOkay, "Mode set to S").into(),
        C::Stru => Reply::new(ReplyCode::CommandOkay, "Structure set to F").into(),
        C::Allo => Reply::new(ReplyCode::CommandSuperfluous, "ALLO not needed").into(),
        C::Pwd => navigate::pwd(session).into(),
        C::Cwd(path) => navigate::cwd(session, &path).await.into(),
        C::Cdup => navigate::cwd(session, "..").await.into(),
        C::Mkd(path) => files::mkd(session, &path).await.into(),
        C::Rmd(path) => files::rmd(session, &path).await.into(),
        C::Dele(path) => files::dele(session, &path).await.into(),
        C::Rnfr(path) => files::rnfr(session, &path).await.into(),
        C::Rnto(path) => files::rnto(session, &path).await.into(),
        C::Size(path) => files::size(session, &path).await.into(),
        C::Mdtm(path) => files::mdtm(session, &path).await.into(),
        C::Mfmt { time, path } => files::mfmt(session, time, &path).await.into(),
        C::List { path, .. } => listing::list(session, path.as_deref(), Kind::List).await,
        C::Nlst { path, .. } => listing::list(session, path.as_deref(), Kind::Nlst).await,
        C::Mlsd(path) => listing::list(session, path.as_deref(), Kind::Mlsd).await,
        C::Mlst(path) => listing::mlst(session, path.as_deref()).await.into(),
        C::Retr(path) => transfer::retr(session, &path).await,
        C::Stor(path) => transfer::store(session, &path, transfer::Store::Replace).await,
        C::Appe(path) => transfer::store(session, &path, transfer::Store::Append).await,
        C::Stou(hint) => transfer::stou(session, hint.as_deref()).await,
        C::Rest(offset) => transfer::rest(session, offset).into(),
        C::Abor => Reply::new(ReplyCode::DataConnectionOpen, "No transfer to abort").into(),
        C::Pasv => transfer::pasv(session).await.into(),
        C::Epsv(argument) => transfer::epsv(session, argument).await.into(),
        C::Port(address) => transfer::active(session, address.into(), false).into(),
        C::Eprt(address) => transfer::active(session, address, true).into(),
        C::Avbl(path) => files::avbl(session, path.as_deref()).await.into(),
        C::Hash(path) => files::hash(session, &path).await.into(),
        C::Checksum {
            algorithm,
            path,
            range,
        } => files::checksum(session, algorithm, &path, range)
            .await
            .into(),
    }
}
