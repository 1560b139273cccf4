//! A ledger directory as a side of a copy: the source of a push (read
//! beside its writer, without its lock, as [`ratewire_ledger::Snapshot`]
//! reads it) or the destination of a pull (under the ledger's lock, written
//! the way the ledger writes: temporary names, fsync, rename).
//!
//! The file system calls block; a copy runs them on its own single-thread
//! runtime, where they only hold up the copy itself.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use futures::StreamExt;
use ratewire_ledger::{LOCK_FILE, MANIFEST_DIR, TRASH_DIR, manifest_name};

use crate::bounds::READ_CHUNK_BYTES;
use crate::error::{Error, io};
use crate::side::{Chunks, Listing, Side, in_trash};

/// A ledger directory.
#[derive(Debug)]
pub(crate) struct Local {
    dir: PathBuf,
    /// The ledger's lock, held while a pull writes to the directory.
    _lock: Option<File>,
    /// Directories that gained or lost entries since the last sync.
    dirty: Mutex<BTreeSet<PathBuf>>,
}

impl Local {
    /// The ledger in `dir`, to read from; it must have a `_manifest/`.
    pub fn source(dir: &Path) -> Result<Self, Error> {
        if !dir.join(MANIFEST_DIR).is_dir() {
            return Err(Error::NotALedger { path: dir.to_path_buf() });
        }
        Ok(Self { dir: dir.to_path_buf(), _lock: None, dirty: Mutex::default() })
    }

    /// The directory `dir`, to write a ledger into: created if need be,
    /// and locked as [`ratewire_ledger::Ledger::open`] locks it, so that no
    /// writer opens it meanwhile.
    pub fn destination(dir: &Path) -> Result<Self, Error> {
        let manifests = dir.join(MANIFEST_DIR);
        let created = !manifests.is_dir();
        fs::create_dir_all(&manifests).map_err(io(&manifests))?;
        let lock = lock(&manifests.join(LOCK_FILE))?;
        let local = Self { dir: dir.to_path_buf(), _lock: Some(lock), dirty: Mutex::default() };
        if created {
            let mut dirty = local.dirty();
            dirty.insert(dir.to_path_buf());
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                dirty.insert(parent.to_path_buf());
            }
        }
        Ok(local)
    }

    fn path(&self, relative: &str) -> PathBuf {
        relative.split('/').fold(self.dir.clone(), |path, part| path.join(part))
    }

    fn dirty(&self) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
        self.dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates the parent directories of `path` below the ledger directory,
    /// noting the directories that gained entries.
    fn create_parents(&self, path: &Path) -> Result<(), Error> {
        let Some(parent) = path.parent() else { return Ok(()) };
        let Ok(relative) = parent.strip_prefix(&self.dir) else { return Ok(()) };
        let mut dir = self.dir.clone();
        for component in relative.components() {
            let above = dir.clone();
            dir.push(component);
            if !dir.is_dir() {
                fs::create_dir(&dir).map_err(io(&dir))?;
                self.dirty().insert(above);
            }
        }
        Ok(())
    }
}

impl Side for Local {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    async fn listing(&self) -> Result<Listing, Error> {
        let manifests = self.dir.join(MANIFEST_DIR);
        let mut listing = Listing::default();
        for entry in fs::read_dir(&manifests).map_err(io(&manifests))? {
            let entry = entry.map_err(io(&manifests))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // A checkpoint can be removed by the writer between the listing
            // and its metadata: it is left out, as if listed a moment later.
            match entry.metadata() {
                Ok(metadata) => listing.add(&name, metadata.len()),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io(&entry.path())(e)),
            }
        }
        Ok(listing)
    }

    async fn read(&self, relative: &str, max: u64) -> Result<Option<Result<Vec<u8>, u64>>, Error> {
        let path = self.path(relative);
        let Some(size) = self.size(relative).await? else { return Ok(None) };
        if size > max {
            return Ok(Some(Err(size)));
        }
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(Ok(bytes))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn size(&self, relative: &str) -> Result<Option<u64>, Error> {
        let path = self.path(relative);
        match fs::metadata(&path) {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn open(&self, relative: &str) -> Result<Option<(u64, Chunks)>, Error> {
        let path = self.path(relative);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        // Once open, the file stays readable even if a compaction moves it
        // to the trash or the trash is deleted.
        let size = file.metadata().map_err(io(&path))?.len();
        let chunks = futures::stream::try_unfold((file, path), |(mut file, path)| async move {
            let mut buffer = vec![0; READ_CHUNK_BYTES];
            let read = file.read(&mut buffer).map_err(io(&path))?;
            if read == 0 {
                return Ok(None);
            }
            buffer.truncate(read);
            Ok(Some((Bytes::from(buffer), (file, path))))
        });
        Ok(Some((size, chunks.boxed())))
    }

    async fn trash(&self) -> Result<BTreeSet<u64>, Error> {
        let trash = self.dir.join(TRASH_DIR);
        let entries = match fs::read_dir(&trash) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(BTreeSet::new()),
            Err(e) => return Err(io(&trash)(e)),
        };
        let mut sequences = BTreeSet::new();
        for entry in entries {
            let name = entry.map_err(io(&trash))?.file_name().to_string_lossy().into_owned();
            if let Some(sequence) = crate::side::sequence_of(&name, "") {
                sequences.insert(sequence);
            }
        }
        Ok(sequences)
    }

    async fn write(&self, relative: &str, size: u64, mut chunks: Chunks) -> Result<(), Error> {
        let path = self.path(relative);
        self.create_parents(&path)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = path.with_file_name(format!(".{name}.tmp"));
        let mut file = File::create(&temp).map_err(io(&temp))?;
        let mut written = 0;
        let result = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).map_err(io(&temp))?;
                written += chunk.len() as u64;
            }
            if written != size {
                let location = self.location();
                return Err(Error::Size { location, file: relative.to_string(), expected: size, actual: written });
            }
            file.sync_all().map_err(io(&temp))
        }
        .await;
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        fs::rename(&temp, &path).map_err(io(&temp))?;
        if let Some(parent) = path.parent() {
            self.dirty().insert(parent.to_path_buf());
        }
        Ok(())
    }

    async fn sync(&self) -> Result<(), Error> {
        let dirty = std::mem::take(&mut *self.dirty());
        for dir in &dirty {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
        }
        Ok(())
    }

    async fn publish(&self, sequence: u64, manifest: &[u8]) -> Result<(), Error> {
        let relative = format!("{MANIFEST_DIR}/{}", manifest_name(sequence));
        if let Some(there) = self.read(&relative, manifest.len() as u64).await? {
            if there.as_deref() == Ok(manifest) {
                return Ok(());
            }
            let reason = "is there already, with other contents".into();
            return Err(Error::Diverged { location: self.location(), sequence, reason });
        }
        let chunk = Bytes::copy_from_slice(manifest);
        self.write(&relative, manifest.len() as u64, futures::stream::once(async { Ok(chunk) }).boxed()).await?;
        // The commit point: the manifest's name is durable before the copy
        // goes on to the next commit.
        self.sync().await
    }

    async fn move_to_trash(&self, sequence: u64, relative: &str) -> Result<bool, Error> {
        let from = self.path(relative);
        if !from.is_file() {
            return Ok(false);
        }
        let to = self.path(&in_trash(sequence, relative));
        self.create_parents(&to)?;
        fs::rename(&from, &to).map_err(io(&from))?;
        let mut dirty = self.dirty();
        dirty.extend([&from, &to].into_iter().filter_map(|p| p.parent()).map(Path::to_path_buf));
        Ok(true)
    }

    async fn delete_trash(&self, sequence: u64) -> Result<(), Error> {
        let trash = self.dir.join(TRASH_DIR);
        let path = trash.join(format!("{sequence:020}"));
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                self.dirty().insert(trash);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn delete(&self, relative: &str) -> Result<(), Error> {
        let path = self.path(relative);
        match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    self.dirty().insert(parent.to_path_buf());
                }
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// Takes the ledger's exclusive lock on `path`, as the ledger does.
fn lock(path: &Path) -> Result<File, Error> {
    use rustix::fs::{FlockOperation, flock};
    let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io(path))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Locked { path: path.to_path_buf() }),
        Err(e) => Err(Error::Io { path: path.to_path_buf(), source: e.into() }),
    }
}
