//! An SFTP channel without SSH: a [`Context`] over a temporary home, fed decoded requests
//! through the session's own routing (`session::route`, `session::lookup`) and handler table
//! (`session::execute`), one at a time, with the encoded replies decoded back for assertions.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::{Buf as _, Bytes, BytesMut};

use crate::audit::{Action, Audit, AuditSink, Event};
use crate::config::Protocol;
use crate::limits::SessionRegistry;
use crate::vfs::{
    FsSpec, MemoryStorage, PermissionRules, Quota, QuotaRegistry, UserFs, VirtualPath,
};

use super::super::context::{Context, SessionContext};
use super::super::proto::packet::{
    SSH_FXP_ATTRS, SSH_FXP_DATA, SSH_FXP_EXTENDED_REPLY, SSH_FXP_HANDLE, SSH_FXP_NAME,
    SSH_FXP_STATUS,
};
use super::super::proto::wire::Reader;
use super::super::proto::{FileAttributes, OpenFlags, Request, RequestKind, StatusCode};
use super::super::requests::discard_handles;
use super::super::session::{execute, lookup, route};

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(u32, String),
    Handle(Bytes),
    Data(Bytes),
    /// (filename, longname, attributes) of each entry.
    Name(Vec<(String, String, FileAttributes)>),
    Attrs(FileAttributes),
    Extended(Bytes),
}

impl Reply {
    /// The status code, if this is a STATUS.
    pub fn code(&self) -> Option<StatusCode> {
        let Reply::Status(code, _) = self else {
            return None;
        };
        [
            StatusCode::Ok,
            StatusCode::Eof,
            StatusCode::NoSuchFile,
            StatusCode::PermissionDenied,
            StatusCode::Failure,
            StatusCode::BadMessage,
            StatusCode::OpUnsupported,
        ]
        .into_iter()
        .find(|known| known.code() == *code)
    }

    pub fn handle(&self) -> Bytes {
        match self {
            Reply::Handle(handle) => handle.clone(),
            other => panic!("expected a handle, got {other:?}"),
        }
    }

    pub fn attrs(&self) -> FileAttributes {
        match self {
            Reply::Attrs(attrs) => attrs.clone(),
            other => panic!("expected attributes, got {other:?}"),
        }
    }

    pub fn names(&self) -> Vec<String> {
        match self {
            Reply::Name(entries) => entries.iter().map(|entry| entry.0.clone()).collect(),
            other => panic!("expected names, got {other:?}"),
        }
    }
}

/// Audit events as (action, path, bytes, result).
#[derive(Debug, Default)]
pub struct Events(Mutex<Vec<(Action, String, u64, &'static str)>>);

impl AuditSink for Events {
    fn record(&self, event: &Event) {
        self.0.lock().unwrap().push((
            event.action,
            event.path.clone(),
            event.bytes,
            event.outcome.as_str(),
        ));
    }
}

pub struct Fixture {
    pub temp: tempfile::TempDir,
    pub channel: Context,
    pub events: Arc<Events>,
    /// The daemon's session list, holding this one session.
    pub sessions: SessionRegistry,
    next_id: u32,
}

impl Fixture {
    /// `alice` with every permission, umask 022, no quota.
    pub async fn new() -> Fixture {
        Fixture::with(|_, _| {}).await
    }

    /// As [`Fixture::new`], after `configure` has changed the user's spec or strictness.
    pub async fn with(configure: impl FnOnce(&mut FsSpec, &mut bool)) -> Fixture {
        Fixture::with_memory(configure, Vec::new()).await
    }

    /// A local home with a folder at `at` on the in-memory test backend, which waits as
    /// object storage does (and accepts writes only in order).
    pub async fn with_memory_folder(at: &str) -> (Fixture, MemoryStorage) {
        let memory = MemoryStorage::new();
        let folder = (VirtualPath::parse_absolute(at).unwrap(), memory.clone());
        (Fixture::with_memory(|_, _| {}, vec![folder]).await, memory)
    }

    async fn with_memory(
        configure: impl FnOnce(&mut FsSpec, &mut bool),
        memory: Vec<(VirtualPath, MemoryStorage)>,
    ) -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("alice")).unwrap();
        std::fs::create_dir_all(temp.path().join("outside")).unwrap();
        std::fs::write(temp.path().join("outside/secret"), b"top secret").unwrap();
        let mut spec = FsSpec {
            user: "alice".to_owned(),
            root: temp.path().join("alice").into(),
            mounts: Vec::new(),
            permissions: PermissionRules::default(),
            quota: Quota::default(),
            denied_upload_patterns: Vec::new(),
            bandwidth: Default::default(),
            umask: Some(0o022),
        };
        let mut strict_attributes = false;
        configure(&mut spec, &mut strict_attributes);
        let fs = UserFs::open_with_memory(spec, &QuotaRegistry::new(), memory)
            .await
            .unwrap();
        let events = Arc::new(Events::default());
        let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let sessions = SessionRegistry::default();
        let registration = sessions.register(1, Protocol::Sftp, "alice", peer);
        let session = SessionContext {
            fs,
            user: "alice".to_owned(),
            peer: peer.ip(),
            audit: Audit::new(vec![events.clone()]),
            strict_attributes,
            registration: Arc::new(registration),
        };
        Fixture {
            temp,
            channel: Context::new(session),
            events,
            sessions,
            next_id: 0,
        }
    }

    pub fn home(&self) -> PathBuf {
        self.temp.path().join("alice")
    }

    pub fn write(&self, relative: &str, data: &[u8]) {
        let path = self.home().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    pub fn read(&self, relative: &str) -> Option<Vec<u8>> {
        std::fs::read(self.home().join(relative)).ok()
    }

    pub fn exists(&self, relative: &str) -> bool {
        std::fs::symlink_metadata(self.home().join(relative)).is_ok()
    }

    /// The permission bits of `relative` (not following a final symlink).
    pub fn mode(&self, relative: &str) -> u32 {
        let metadata = std::fs::symlink_metadata(self.home().join(relative)).unwrap();
        metadata.permissions().mode() & 0o7777
    }

    /// The session list's running transfer and its byte count.
    pub fn shown_transfer(&self) -> (Option<String>, u64) {
        let summary = self.sessions.list().remove(0);
        (summary.transfer, summary.bytes)
    }

    /// The actions audited so far, with their result.
    pub fn audited(&self) -> Vec<(Action, String, u64, &'static str)> {
        self.events.0.lock().unwrap().clone()
    }

    /// Runs one request as the session would and decodes its reply.
    pub async fn send(&mut self, kind: RequestKind) -> Reply {
        self.next_id += 1;
        let id = self.next_id;
        let request = Request { id, kind };
        let route = route(&request.kind);
        let out = match lookup(&self.channel, &route) {
            Some(resolved) => execute(&self.channel, request, resolved).await,
            None => super::super::requests::reply::invalid_handle(id),
        };
        decode(id, out)
    }

    /// The status of one request (panics on any other reply).
    pub async fn status(&mut self, kind: RequestKind) -> StatusCode {
        let reply = self.send(kind).await;
        reply
            .code()
            .unwrap_or_else(|| panic!("expected a status, got {reply:?}"))
    }

    /// Opens `path` with `flags` (no attributes) and returns the handle.
    pub async fn open(&mut self, path: &str, flags: OpenFlags) -> Bytes {
        self.send(open(path, flags, FileAttributes::default()))
            .await
            .handle()
    }

    /// Ends the channel as the session does when the client goes away without CLOSE.
    pub async fn disconnect(&self) {
        let open = self.channel.lock_table().drain();
        discard_handles(&self.channel.session, open, ("session ended", "test")).await;
    }
}

pub fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

pub fn open(path: &str, flags: OpenFlags, attrs: FileAttributes) -> RequestKind {
    RequestKind::Open {
        filename: bytes(path),
        pflags: flags,
        attrs,
    }
}

pub fn flags(all: &[OpenFlags]) -> OpenFlags {
    OpenFlags::from_bits_retain(all.iter().fold(0, |bits, flag| bits | flag.bits()))
}

pub fn read(handle: &Bytes, offset: u64, len: u32) -> RequestKind {
    RequestKind::Read {
        handle: handle.clone(),
        offset,
        len,
    }
}

pub fn write(handle: &Bytes, offset: u64, data: &[u8]) -> RequestKind {
    RequestKind::Write {
        handle: handle.clone(),
        offset,
        data: Bytes::copy_from_slice(data),
    }
}

pub fn close(handle: &Bytes) -> RequestKind {
    RequestKind::Close {
        handle: handle.clone(),
    }
}

pub fn mode(permissions: u32) -> FileAttributes {
    FileAttributes {
        permissions: Some(permissions),
        ..FileAttributes::default()
    }
}

fn decode(id: u32, out: BytesMut) -> Reply {
    let mut packet = out.freeze();
    let length = packet.get_u32() as usize;
    assert_eq!(length, packet.len(), "one whole packet");
    let kind = packet.get_u8();
    assert_eq!(packet.get_u32(), id, "the reply carries the request's id");
    let mut reader = Reader::new(&packet);
    let reply = match kind {
        SSH_FXP_STATUS => {
            let code = reader.u32().unwrap();
            let message = String::from_utf8(reader.string().unwrap().to_vec()).unwrap();
            assert_eq!(reader.string().unwrap(), b"en");
            Reply::Status(code, message)
        }
        SSH_FXP_HANDLE => Reply::Handle(reader.bytes().unwrap()),
        SSH_FXP_DATA => Reply::Data(reader.bytes().unwrap()),
        SSH_FXP_NAME => {
            let count = reader.u32().unwrap();
            let entries = (0..count)
                .map(|_| {
                    let name = String::from_utf8(reader.string().unwrap().to_vec()).unwrap();
                    let long = String::from_utf8(reader.string().unwrap().to_vec()).unwrap();
                    (name, long, FileAttributes::decode(&mut reader).unwrap())
                })
                .collect();
            Reply::Name(entries)
        }
        SSH_FXP_ATTRS => Reply::Attrs(FileAttributes::decode(&mut reader).unwrap()),
        SSH_FXP_EXTENDED_REPLY => Reply::Extended(reader.rest()),
        other => panic!("unexpected reply type {other}"),
    };
    assert!(reader.is_empty(), "nothing after the reply");
    reply
}
