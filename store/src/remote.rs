//! A remote: a prefix in an object store, holding a ledger laid out as the
//! directory is (`_manifest/`, `table=.../`, `_trash/`), one object per
//! file.
//!
//! An object appears whole when its PUT (or the last step of its multipart
//! upload) succeeds, so the remote needs no temporary names: a manifest is
//! put last, with "create only if absent" where the store supports it, and
//! that is the remote's commit point.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, WriteMultipart};
use ratewire_ledger::{MANIFEST_DIR, TRASH_DIR, manifest_name};

use crate::bounds::{MULTIPART_PART_BYTES, MULTIPART_PARTS_IN_FLIGHT, PUT_SINGLE_BYTES_MAX};
use crate::error::{Error, store};
use crate::side::{Chunks, Listing, Side, in_trash, sequence_of};

/// Where a ledger is mirrored: a prefix in an object store.
#[derive(Debug, Clone)]
pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl Remote {
    /// The remote at `url`:
    /// - `s3://bucket/prefix` (the prefix may be empty): S3, or an
    ///   S3-compatible server, configured from the standard `AWS_*`
    ///   environment variables (credentials, `AWS_REGION`,
    ///   `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP` for another server);
    /// - `file:///absolute/path`: a directory, written through the object
    ///   store interface as if it were a bucket.
    ///
    /// # Errors
    /// [`Error::Url`] for another form, and [`Error::Store`] when the S3
    /// client cannot be configured from the environment.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::Url { url: url.to_string(), reason: reason.to_string() };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket: expected s3://bucket/prefix"));
            }
            let s3 = AmazonS3Builder::from_env().with_bucket_name(bucket).build().map_err(store(&url))?;
            return Self::new(url, Arc::new(s3), prefix);
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid("expected file:///absolute/path"));
            }
            let local = LocalFileSystem::new().with_automatic_cleanup(true);
            return Self::new(url, Arc::new(local), path);
        }
        Err(invalid("expected s3://bucket/prefix or file:///absolute/path"))
    }

    /// The remote at `prefix` (`/`-separated, may be empty) in `store`,
    /// named `url` in messages: for stores built by hand, such as
    /// [`object_store::memory::InMemory`].
    ///
    /// # Errors
    /// [`Error::Url`] for a prefix that is not a valid object path.
    pub fn new(url: &str, store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self, Error> {
        let prefix = Path::parse(prefix.trim_matches('/'))
            .map_err(|e| Error::Url { url: url.to_string(), reason: e.to_string() })?;
        Ok(Self { url: url.to_string(), store, prefix })
    }

    /// The URL it was made from.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object of a ledger-relative path.
    #[must_use]
    pub fn key(&self, relative: &str) -> Path {
        relative.split('/').fold(self.prefix.clone(), |key, part| key.join(part))
    }

    /// The objects under a ledger-relative directory, with their sizes.
    async fn list(&self, relative: &str) -> Result<Vec<(Path, u64)>, Error> {
        let key = self.key(relative);
        let objects: Vec<_> = self.store.list(Some(&key)).try_collect().await.map_err(store(&key))?;
        Ok(objects.into_iter().map(|o| (o.location, o.size)).collect())
    }
}

/// Whether an object store error says the object is not there.
fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl Side for Remote {
    fn location(&self) -> String {
        self.url.clone()
    }

    async fn listing(&self) -> Result<Listing, Error> {
        let mut listing = Listing::default();
        for (key, size) in self.list(MANIFEST_DIR).await? {
            if let Some(name) = key.filename() {
                listing.add(name, size);
            }
        }
        Ok(listing)
    }

    async fn read(&self, relative: &str, max: u64) -> Result<Option<Result<Vec<u8>, u64>>, Error> {
        let key = self.key(relative);
        let got = match self.store.get(&key).await {
            Ok(got) => got,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(store(&key)(e)),
        };
        if got.meta.size > max {
            return Ok(Some(Err(got.meta.size)));
        }
        let bytes = got.bytes().await.map_err(store(&key))?;
        Ok(Some(Ok(bytes.to_vec())))
    }

    async fn size(&self, relative: &str) -> Result<Option<u64>, Error> {
        let key = self.key(relative);
        match self.store.head(&key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(store(&key)(e)),
        }
    }

    async fn open(&self, relative: &str) -> Result<Option<(u64, Chunks)>, Error> {
        let key = self.key(relative);
        let got = match self.store.get(&key).await {
            Ok(got) => got,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(store(&key)(e)),
        };
        let size = got.meta.size;
        let location = key.to_string();
        let chunks = got.into_stream().map_err(move |source| Error::Store { location: location.clone(), source });
        Ok(Some((size, chunks.boxed())))
    }

    async fn trash(&self) -> Result<BTreeSet<u64>, Error> {
        let key = self.key(TRASH_DIR);
        let listed = self.store.list_with_delimiter(Some(&key)).await.map_err(store(&key))?;
        Ok(listed.common_prefixes.iter().filter_map(|p| p.filename().and_then(|n| sequence_of(n, ""))).collect())
    }

    async fn write(&self, relative: &str, size: u64, mut chunks: Chunks) -> Result<(), Error> {
        let key = self.key(relative);
        let mismatch =
            |actual| Error::Size { location: self.url.clone(), file: relative.to_string(), expected: size, actual };
        if size <= PUT_SINGLE_BYTES_MAX {
            let mut whole = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
            while let Some(chunk) = chunks.next().await {
                whole.extend_from_slice(&chunk?);
                if whole.len() as u64 > size {
                    return Err(mismatch(whole.len() as u64));
                }
            }
            if whole.len() as u64 != size {
                return Err(mismatch(whole.len() as u64));
            }
            self.store.put(&key, PutPayload::from(whole)).await.map_err(store(&key))?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&key).await.map_err(store(&key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART_BYTES);
        let mut sent = 0;
        let result = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                sent += chunk.len() as u64;
                writer.wait_for_capacity(MULTIPART_PARTS_IN_FLIGHT).await.map_err(store(&key))?;
                writer.put(chunk);
            }
            if sent == size { Ok(()) } else { Err(mismatch(sent)) }
        }
        .await;
        match result {
            Ok(()) => writer.finish().await.map(drop).map_err(store(&key)),
            Err(e) => {
                // Best effort: an upload left open is billed until the
                // bucket's lifecycle rule (if any) removes it.
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    async fn sync(&self) -> Result<(), Error> {
        Ok(())
    }

    async fn publish(&self, sequence: u64, manifest: &[u8]) -> Result<(), Error> {
        let key = self.key(&format!("{MANIFEST_DIR}/{}", manifest_name(sequence)));
        let payload = PutPayload::from(manifest.to_vec());
        let there = match self.store.put_opts(&key, payload.clone(), PutMode::Create.into()).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => true,
            // A store without conditional puts (AWS_CONDITIONAL_PUT=disabled
            // for a server that refuses them): look, then put.
            Err(object_store::Error::NotImplemented { .. }) => {
                self.size(&format!("{MANIFEST_DIR}/{}", manifest_name(sequence))).await?.is_some()
            }
            Err(e) => return Err(store(&key)(e)),
        };
        if there {
            let got = self.store.get(&key).await.map_err(store(&key))?;
            if got.bytes().await.map_err(store(&key))?.as_ref() == manifest {
                return Ok(());
            }
            let reason = "is there already, with other contents".into();
            return Err(Error::Diverged { location: self.url.clone(), sequence, reason });
        }
        self.store.put(&key, payload).await.map(drop).map_err(store(&key))
    }

    async fn move_to_trash(&self, sequence: u64, relative: &str) -> Result<bool, Error> {
        let (from, to) = (self.key(relative), self.key(&in_trash(sequence, relative)));
        // S3 has no rename: this is a copy, then a delete of the original.
        match self.store.rename(&from, &to).await {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(store(&from)(e)),
        }
    }

    async fn delete_trash(&self, sequence: u64) -> Result<(), Error> {
        let objects = self.list(&format!("{TRASH_DIR}/{sequence:020}")).await?;
        let keys = futures::stream::iter(objects.into_iter().map(|(key, _)| Ok(key))).boxed();
        let mut deleted = self.store.delete_stream(keys);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(store(&self.url)(e)),
            }
        }
        Ok(())
    }

    async fn delete(&self, relative: &str) -> Result<(), Error> {
        let key = self.key(relative);
        match self.store.delete(&key).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(store(&key)(e)),
        }
    }
}
