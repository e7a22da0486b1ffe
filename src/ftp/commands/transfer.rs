//! Data channel and transfer commands: PASV, PORT, TYPE, MODE, STRU, REST, RETR, STOR, STOU,
//! APPE (RFC 959 §4.1.2-4.1.3), EPSV and EPRT (RFC 2428), REST STREAM (RFC 3659 §5).
//!
//! Active mode is off unless configured, and then only to the control connection's own IP and
//! ports from 1024 up, so the server can never be used for an FTP bounce (RFC 2577 §3).

use std::net::SocketAddr;

use crate::audit::{reason, Action, Outcome};
use crate::vfs::{VfsErrorKind, VirtualPath, WriteMode};

use super::super::context::{Context, Response, Transfer};
use super::super::data::{DataChannel, Job, PendingConnection};
use super::super::errors;
use super::super::handshake_order::{PassiveCommand, Waits};
use super::super::passive::{self, PassiveError};
use super::super::proto::{format_epsv, format_pasv, EpsvArg, Reply, ReplyCode, TransferType};

/// How STOR-like commands write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// STOR (with REST: write in place from the offset).
    Replace,
    /// APPE.
    Append,
}

/// PASV: a listener from the pool and the address this client should use.
pub async fn pasv(session: &mut Context) -> Reply {
    if session.epsv_all {
        return Reply::new(ReplyCode::BadSequence, "EPSV ALL in effect: use EPSV");
    }
    let advertised = passive::advertised_ipv4(
        &session.config.ftps,
        session.peer_ip(),
        session.info().local.ip(),
    )
    .await;
    let ip = match advertised {
        Ok(ip) => ip,
        Err(error) => return passive_refusal(&error),
    };
    match open_passive(session, PassiveCommand::Pasv).await {
        Ok(port) => Reply::new(ReplyCode::EnteringPassiveMode, format_pasv(ip, port)),
        Err(reply) => reply,
    }
}

/// EPSV: like PASV without an address; `EPSV ALL` locks the session to EPSV.
pub async fn epsv(session: &mut Context, argument: EpsvArg) -> Reply {
    let ipv4 = session.info().local.ip().to_canonical().is_ipv4();
    match argument {
        EpsvArg::All => {
            session.epsv_all = true;
            return Reply::new(ReplyCode::CommandOkay, "EPSV ALL ok");
        }
        EpsvArg::Protocol(1) if ipv4 => {}
        EpsvArg::Protocol(2) if !ipv4 => {}
        EpsvArg::Protocol(_) => {
            let supported = if ipv4 { "(1)" } else { "(2)" };
            return Reply::new(
                ReplyCode::NetworkProtocolNotSupported,
                format!("Network protocol not supported, use {supported}"),
            );
        }
        EpsvArg::Any => {}
    }
    match open_passive(session, PassiveCommand::Epsv).await {
        Ok(port) => Reply::new(ReplyCode::EnteringExtendedPassiveMode, format_epsv(port)),
        Err(reply) => reply,
    }
}

async fn open_passive(session: &mut Context, command: PassiveCommand) -> Result<u16, Reply> {
    // Release a listener an earlier PASV left unused before taking another.
    session.data = DataChannel::None;
    let listener = session
        .shared
        .passive
        .open(
            session.info().local.ip().to_canonical(),
            session.data_source_ip(),
            session.config.ftps.passive_ports.clone(),
        )
        .map_err(|error| passive_refusal(&error))?;
    let port = listener.port();
    let waits = Waits::for_connection(session.data_tls_order.get(), command);
    let pending = PendingConnection::start(
        listener,
        session.data_tls(),
        session.config.ftps.data_timeout,
        waits.hello_grace,
        &session.shared.services.tasks,
    );
    session.data = DataChannel::Passive(pending);
    if !waits.reply_delay.is_zero() {
        tokio::time::sleep(waits.reply_delay).await;
    }
    Ok(port)
}

fn passive_refusal(error: &PassiveError) -> Reply {
    match error {
        PassiveError::NoFreePort(_) => {
            tracing::warn!(%error, "passive port range exhausted");
            Reply::new(
                ReplyCode::CantOpenDataConnection,
                "No passive port free; try again shortly",
            )
        }
        PassiveError::NotIpv4 => Reply::new(
            ReplyCode::CantOpenDataConnection,
            "PASV needs IPv4; use EPSV",
        ),
        PassiveError::Bind { .. } | PassiveError::Resolve(_) => {
            tracing::error!(%error, "cannot set up a passive data connection");
            Reply::new(
                ReplyCode::CantOpenDataConnection,
                "Can't open passive listener",
            )
        }
    }
}

/// PORT and EPRT (active mode), when enabled.
pub fn active(session: &mut Context, address: SocketAddr, extended: bool) -> Reply {
    if !session.config.ftps.active_mode {
        return Reply::new(
            ReplyCode::NotImplemented,
            "Active mode is disabled on this server; use PASV or EPSV",
        );
    }
    if session.epsv_all {
        return Reply::new(ReplyCode::BadSequence, "EPSV ALL in effect: use EPSV");
    }
    if address.ip().to_canonical() != session.peer_ip() {
        return Reply::new(
            ReplyCode::SyntaxErrorInParameters,
            "Data connections go only to your own address",
        );
    }
    if address.port() < 1024 {
        return Reply::new(
            ReplyCode::SyntaxErrorInParameters,
            "Data connections to ports below 1024 are refused",
        );
    }
    session.data = DataChannel::Active(address);
    let verb = if extended { "EPRT" } else { "PORT" };
    Reply::new(ReplyCode::CommandOkay, format!("{verb} command successful"))
}

/// TYPE.
pub fn set_type(session: &mut Context, kind: TransferType) -> Reply {
    session.transfer_type = kind;
    let name = match kind {
        TransferType::Ascii => "A",
        TransferType::Image => "I",
    };
    Reply::new(ReplyCode::CommandOkay, format!("Type set to {name}"))
}

/// REST: the next RETR, STOR or APPE starts at `offset`.
pub fn rest(session: &mut Context, offset: u64) -> Reply {
    session.restart_offset = Some(offset);
    Reply::new(
        ReplyCode::FileActionPending,
        format!("Restarting at {offset}; send STOR or RETR"),
    )
}

/// RETR, from the REST offset if one was given.
pub async fn retr(session: &mut Context, text: &str) -> Response {
    let offset = session.restart_offset.take().unwrap_or(0);
    let (fs, path) = match target(session, text) {
        Ok(found) => found,
        Err(reply) => return reply.into(),
    };
    let opened = async {
        let reader = fs.open_read(&path, offset).await?;
        let stat = reader.stat().await?;
        Ok::<_, crate::vfs::VfsError>((reader, stat))
    };
    let (reader, stat) = match opened.await {
        Ok(opened) => opened,
        Err(error) => return refuse_file(session, Action::Download, &path, &error),
    };
    if offset > stat.size {
        let reply = Reply::new(
            ReplyCode::InvalidRestParameter,
            "REST offset beyond end of file",
        );
        return refuse(session, Action::Download, &path, reason::REFUSED, reply);
    }
    let ascii = session.transfer_type == TransferType::Ascii;
    let preliminary = Reply::new(
        ReplyCode::FileStatusOkay,
        format!(
            "Opening {} mode data connection for {} ({} bytes)",
            mode_name(ascii),
            path.as_str(),
            stat.size - offset
        ),
    );
    start(
        session,
        preliminary,
        Job::Download { reader, ascii },
        Action::Download,
        path,
        None,
    )
}

/// STOR (REST + STOR writes in place from the offset) and APPE.
pub async fn store(session: &mut Context, text: &str, store: Store) -> Response {
    let offset = session.restart_offset.take();
    let (fs, path) = match target(session, text) {
        Ok(found) => found,
        Err(reply) => return reply.into(),
    };
    let mode = match (store, offset) {
        (Store::Append, _) => WriteMode::Append,
        (Store::Replace, None | Some(0)) => WriteMode::Replace,
        (Store::Replace, Some(offset)) => {
            let size = match fs.stat(&path).await {
                Ok(stat) => stat.size,
                Err(error) if error.kind == VfsErrorKind::NotFound => 0,
                Err(error) => return refuse_file(session, Action::Upload, &path, &error),
            };
            if offset > size {
                let reply = Reply::new(
                    ReplyCode::InvalidRestParameter,
                    "REST offset beyond end of file",
                );
                return refuse(session, Action::Upload, &path, reason::REFUSED, reply);
            }
            WriteMode::At(offset)
        }
    };
    let writer = match fs.open_write(&path, mode).await {
        Ok(writer) => writer,
        Err(error) => return refuse_file(session, Action::Upload, &path, &error),
    };
    let ascii = session.transfer_type == TransferType::Ascii;
    let preliminary = Reply::new(
        ReplyCode::FileStatusOkay,
        format!(
            "Opening {} mode data connection for {}",
            mode_name(ascii),
            path.as_str()
        ),
    );
    start(
        session,
        preliminary,
        Job::Upload { writer, ascii },
        Action::Upload,
        path,
        None,
    )
}

/// STOU: stores under a new name derived from the hint (RFC 959 §4.1.3, RFC 1123 §4.1.2.9).
pub async fn stou(session: &mut Context, hint: Option<&str>) -> Response {
    session.restart_offset = None;
    const ATTEMPTS: u32 = 100;
    let base = hint
        .and_then(|hint| hint.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("file")
        .to_owned();
    let Some(user) = session.user() else {
        return Reply::new(ReplyCode::NotLoggedIn, "Please log in first").into();
    };
    let fs = user.fs.clone();
    for attempt in 0..ATTEMPTS {
        let name = match attempt {
            0 => base.clone(),
            n => format!("{base}.{n}"),
        };
        let path = match session.resolve(&name) {
            Ok(path) => path,
            Err(reply) => return reply.into(),
        };
        match fs.open_write(&path, WriteMode::CreateNew).await {
            Ok(writer) => {
                let ascii = session.transfer_type == TransferType::Ascii;
                let file_name = path.file_name().unwrap_or_default().to_owned();
                let preliminary =
                    Reply::new(ReplyCode::FileStatusOkay, format!("FILE: {file_name}"));
                let done = Some(format!("Transfer complete; stored as {file_name}"));
                let job = Job::Upload { writer, ascii };
                return start(session, preliminary, job, Action::Upload, path, done);
            }
            Err(error) if error.kind == VfsErrorKind::AlreadyExists => continue,
            Err(error) => return refuse_file(session, Action::Upload, &path, &error),
        }
    }
    session.data = DataChannel::None;
    Reply::new(ReplyCode::FileNameNotAllowed, "No unique name available").into()
}

fn target(session: &Context, text: &str) -> Result<(crate::vfs::UserFs, VirtualPath), Reply> {
    let path = session.resolve(text)?;
    match session.user() {
        Some(user) => Ok((user.fs.clone(), path)),
        None => Err(Reply::new(ReplyCode::NotLoggedIn, "Please log in first")),
    }
}

/// A transfer that cannot start: drop the prepared data channel (the client will ask for a
/// new one) and audit the failure.
fn refuse(
    session: &mut Context,
    action: Action,
    path: &VirtualPath,
    reason: &'static str,
    reply: Reply,
) -> Response {
    session.data = DataChannel::None;
    let detail = reply.lines().join(" ");
    session.audit(action, path.as_str(), None, Outcome::failed(reason, detail));
    reply.into()
}

/// [`refuse`] for a file system error.
fn refuse_file(
    session: &mut Context,
    action: Action,
    path: &VirtualPath,
    error: &crate::vfs::VfsError,
) -> Response {
    refuse(
        session,
        action,
        path,
        error.kind.code(),
        errors::vfs_reply(error),
    )
}

fn start(
    session: &mut Context,
    preliminary: Reply,
    job: Job,
    action: Action,
    path: VirtualPath,
    done_text: Option<String>,
) -> Response {
    Response::Transfer(Box::new(Transfer {
        preliminary,
        setup: session.take_data_setup(),
        job,
        audit: Some((action, path)),
        done_text: done_text.unwrap_or_else(|| "Transfer complete".to_owned()),
    }))
}

fn mode_name(ascii: bool) -> &'static str {
    if ascii {
        "ASCII"
    } else {
        "BINARY"
    }
}
