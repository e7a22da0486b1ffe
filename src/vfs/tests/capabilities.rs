//! The VFS asks its backend's capabilities before it offers an operation, and refuses what the
//! backend cannot do with `Unsupported` (before touching quota or disk).

use super::*;
use crate::vfs::storage::{Backend, Capabilities};

/// What an object store offers: atomic staged uploads, nothing in place, no links, no modes.
fn object_like() -> Capabilities {
    Capabilities {
        blocking: true,
        random_writes: false,
        in_place_writes: false,
        atomic_rename: false,
        exclusive_publish: true,
        symlinks: false,
        hard_links: false,
        modes: false,
    }
}

fn restricted(mut user_fs: UserFs) -> UserFs {
    let inner = Arc::get_mut(&mut user_fs.inner).unwrap();
    for storage in inner.mounts.storages_mut() {
        if let Backend::Local(local) = storage {
            local.restrict(object_like());
        }
    }
    user_fs
}

#[tokio::test]
async fn writes_in_place_are_refused_where_the_backend_cannot_do_them() {
    let fixture = Fixture::new();
    fixture.write("f", b"0123456789");
    let user_fs = restricted(fixture.open().await);
    for mode in [WriteMode::Append, WriteMode::At(4), WriteMode::InPlace] {
        let error = user_fs.open_write(&vpath("/f"), mode).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::Unsupported, "{mode:?}");
        let error = user_fs.open_write(&vpath("/new"), mode).await.unwrap_err();
        assert_eq!(error.kind, VfsErrorKind::Unsupported, "{mode:?}");
    }
    let error = user_fs.set_len(&vpath("/f"), 2).await.unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::Unsupported);
    assert_eq!(fixture.read("f"), b"0123456789");
    assert!(!fixture.exists("new"));
    // Staged (atomic) uploads are what such a backend does.
    let mut writer = user_fs
        .open_write(&vpath("/f"), WriteMode::Replace)
        .await
        .unwrap();
    writer
        .write_all(bytes::Bytes::from_static(b"new"))
        .await
        .unwrap();
    writer.commit().await.unwrap();
    assert_eq!(fixture.read("f"), b"new");
}

#[tokio::test]
async fn links_and_modes_are_refused_where_the_backend_has_none() {
    let fixture = Fixture::new();
    fixture.write("f", b"x");
    let spec = FsSpec {
        quota: Quota {
            max_bytes: Some(1000),
            max_files: Some(10),
        },
        ..fixture.spec()
    };
    let user_fs = restricted(fixture.open_with(spec).await);
    let error = user_fs.symlink("f", &vpath("/l")).await.unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::Unsupported);
    let error = user_fs
        .hard_link(&vpath("/f"), &vpath("/h"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::Unsupported);
    let error = user_fs.set_mode(&vpath("/f"), 0o600).await.unwrap_err();
    assert_eq!(error.kind, VfsErrorKind::Unsupported);
    assert!(!fixture.exists("l") && !fixture.exists("h"));
    // The refused hard link reserved nothing.
    assert_eq!(fixture.quotas.usage("alice"), Some((1, 1)));
}
