//! `S3Lister`: a directory listing paged through `ListObjectsV2` with the delimiter `/`
//! (`PaginatedListStore`), one request per page of at most the size the VFS asks for, the
//! continuation token carried between pages; objects are files, common prefixes directories,
//! markers hidden. Memory is one page, however large the directory.

use std::borrow::Cow;
use std::sync::Arc;

use object_store::aws::AmazonS3;
use object_store::list::{PaginatedListOptions, PaginatedListStore as _};

use super::super::contract::Lister;
use super::errors::vfs_error;
use super::keys::listed_name;
use super::stat::{dir_stat, file_stat};
use crate::vfs::error::VfsError;
use crate::vfs::metadata::DirEntry;

/// A listing in progress.
#[derive(Debug)]
pub(crate) struct S3Lister {
    store: Arc<AmazonS3>,
    /// The directory's prefix, `/`-terminated (empty: the bucket's root).
    prefix: String,
    /// The token of the next page; `None` before the first page.
    token: Option<String>,
    done: bool,
}

impl S3Lister {
    pub(super) fn new(store: Arc<AmazonS3>, prefix: String) -> S3Lister {
        S3Lister {
            store,
            prefix,
            token: None,
            done: false,
        }
    }
}

/// One page of `prefix` (delimiter `/`, at most `max_keys` keys and prefixes).
pub(super) async fn page(
    store: &AmazonS3,
    prefix: &str,
    max_keys: usize,
    token: Option<String>,
) -> Result<object_store::list::PaginatedListResult, VfsError> {
    let options = PaginatedListOptions {
        delimiter: Some(Cow::Borrowed("/")),
        max_keys: Some(max_keys.max(1)),
        page_token: token,
        ..PaginatedListOptions::default()
    };
    let prefix = (!prefix.is_empty()).then_some(prefix);
    store
        .list_paginated(prefix, options)
        .await
        .map_err(vfs_error)
}

impl Lister for S3Lister {
    async fn next_page(&mut self, max: usize) -> Result<Vec<DirEntry>, VfsError> {
        // A page of nothing but markers is not the end: ask again until entries or the end.
        while !self.done {
            let listed = page(&self.store, &self.prefix, max, self.token.take()).await?;
            self.token = listed.page_token;
            self.done = self.token.is_none();
            let result = listed.result;
            let mut entries =
                Vec::with_capacity(result.objects.len() + result.common_prefixes.len());
            for object in &result.objects {
                if let Some(name) = listed_name(&self.prefix, &object.location) {
                    entries.push(DirEntry {
                        name: name.to_owned(),
                        stat: file_stat(object),
                    });
                }
            }
            for common in &result.common_prefixes {
                if let Some(name) = listed_name(&self.prefix, common) {
                    entries.push(DirEntry {
                        name: name.to_owned(),
                        stat: dir_stat(common.as_ref(), None),
                    });
                }
            }
            if !entries.is_empty() {
                return Ok(entries);
            }
        }
        Ok(Vec::new())
    }
}
