//! One day file opened for appending, and the locked append protocol of CONTRACT
//! section 3: open without following links, lock, check the locked file is still the
//! one at the path, repair a torn tail, write whole lines, sync if asked, unlock.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every file actlog creates (CONTRACT section 1).
pub const FILE_MODE: u32 = 0o640;

/// How often a day file may be found replaced under us before we give up. Maintenance
/// replaces a day at most once per run, so more than this means something is wrong.
const MAX_REOPENS: u32 = 64;

/// Flags of every open of a file in a log directory: never through a symbolic link
/// (`O_NOFOLLOW`), and never hanging on a planted FIFO (`O_NONBLOCK`, a no-op on files).
pub const OPEN_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK;

/// A day file held open between appends, so a per-record append costs one lock, two
/// stats and one write instead of an open and a close as well.
#[derive(Debug)]
pub struct DayFile {
    file: File,
    dev: u64,
    ino: u64,
    /// The file's length right after our last append. If it is still that long when we
    /// next hold the lock, it ends in our own `\n` and the tail need not be read.
    known_end: Option<u64>,
}

/// A day's path and, once opened, its file.
#[derive(Debug)]
pub struct Slot {
    /// The day file's path.
    pub path: PathBuf,
    /// The file, held open between appends; `None` until the first append.
    pub file: Option<DayFile>,
}

impl Slot {
    /// A slot for `path`, opened on first use.
    pub fn new(path: PathBuf) -> Self {
        Slot { path, file: None }
    }

    /// Appends `lines` (whole lines, each ending in `\n`) under the day file's exclusive
    /// lock. On error nothing of `lines` is left in the file, as far as the file system
    /// lets us take it back (see [`DayFile::write_locked`]).
    pub fn append(&mut self, lines: &[u8], sync: bool) -> Result<()> {
        for _ in 0..MAX_REOPENS {
            let day = match &mut self.file {
                Some(day) => day,
                None => self.file.insert(DayFile::open(&self.path)?),
            };
            if let Err(source) = lock(&day.file) {
                self.file = None;
                return Err(Error::Lock {
                    path: self.path.clone(),
                    source,
                });
            }
            let outcome = match day.current_len(&self.path) {
                Ok(Some(len)) => Some(day.write_locked(&self.path, len, lines, sync)),
                // Replaced under us (maintenance compressed it, or it was deleted): reopen.
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            };
            // Closing the descriptor releases the lock too, so an unlock error only means
            // this descriptor must not be reused.
            let unlocked = day.file.unlock().is_ok();
            match outcome {
                None => self.file = None,
                Some(result) => {
                    // A fresh descriptor after any failure: after a failed fsync the kernel
                    // may have dropped the dirty pages and would not report it again.
                    if result.is_err() || !unlocked {
                        self.file = None;
                    }
                    return result;
                }
            }
        }
        Err(Error::Unstable {
            path: self.path.clone(),
            attempts: MAX_REOPENS,
        })
    }
}

impl DayFile {
    /// Opens (creating with mode 0640 if needed) the day file at `path` for appending,
    /// refusing symlinks, non-regular files and files with other hard links.
    pub fn open(path: &Path) -> Result<DayFile> {
        let flags = OPEN_FLAGS;
        let mut attempt = 0;
        let (file, created) = loop {
            attempt += 1;
            let created = OpenOptions::new()
                .read(true)
                .append(true)
                .create_new(true)
                .mode(FILE_MODE)
                .custom_flags(flags)
                .open(path);
            match created {
                Ok(f) => break (f, true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(open_error(path, e)),
            }
            let existing = OpenOptions::new()
                .read(true)
                .append(true)
                .custom_flags(flags)
                .open(path);
            match existing {
                Ok(f) => break (f, false),
                // Removed between our two opens (maintenance, retention): create it again.
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < MAX_REOPENS => {}
                Err(e) => return Err(open_error(path, e)),
            }
        };
        let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
        if !meta.file_type().is_file() {
            return Err(Error::NotRegular { path: path.into() });
        }
        if meta.nlink() > 1 {
            return Err(Error::HardLinked {
                path: path.into(),
                links: meta.nlink(),
            });
        }
        if created {
            // The umask may have taken bits away; the contract says 0640 whatever it is.
            file.set_permissions(Permissions::from_mode(FILE_MODE))
                .map_err(|e| Error::io(path, "chmod", e))?;
            // Make the new name durable, so an fsynced record is never in a file that
            // vanishes with the directory entry after a power cut.
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
        }
        Ok(DayFile {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            known_end: None,
        })
    }

    /// With the lock held: the file's length if it is still the one at `path`, `None`
    /// if it was unlinked or replaced (the caller reopens).
    ///
    /// One `lstat` of the path answers everything: if it shows our inode, our file is
    /// still linked there, and the same stat gives its link count and length.
    fn current_len(&self, path: &Path) -> Result<Option<u64>> {
        let Some(at_path) = still_here(path, self.dev, self.ino)? else {
            return Ok(None);
        };
        if at_path.nlink() > 1 {
            return Err(Error::HardLinked {
                path: path.into(),
                links: at_path.nlink(),
            });
        }
        Ok(Some(at_path.len()))
    }

    /// With the lock held and the file `len` bytes long: writes `lines` on a fresh line,
    /// syncs if asked, and on any failure cuts the file back to `len` so that no fragment
    /// is left for a later record to be glued to.
    fn write_locked(&mut self, path: &Path, len: u64, lines: &[u8], sync: bool) -> Result<()> {
        let torn = len > 0 && self.known_end != Some(len) && !self.ends_in_newline(path, len)?;
        self.known_end = None;
        let mut result = Ok(());
        if torn {
            // A crashed writer left a partial line: end it, so it stays one bad line that
            // readers skip and our first record starts clean.
            result = (&self.file)
                .write_all(b"\n")
                .map_err(|e| Error::io(path, "write", e));
        }
        if result.is_ok() {
            result = (&self.file)
                .write_all(lines)
                .map_err(|e| Error::io(path, "write", e));
        }
        if result.is_ok() && sync {
            // Never retried: a second fsync can succeed although the data is lost.
            result = self
                .file
                .sync_data()
                .map_err(|e| Error::io(path, "fsync", e));
        }
        match result {
            Ok(()) => {
                self.known_end = Some(len + u64::from(torn) + lines.len() as u64);
                Ok(())
            }
            Err(e) => {
                // Take back what we wrote. If even that fails, the next writer's torn-tail
                // check still keeps its record off our fragment.
                let _ = self.file.set_len(len);
                Err(e)
            }
        }
    }

    fn ends_in_newline(&self, path: &Path, len: u64) -> Result<bool> {
        let mut last = [0u8; 1];
        self.file
            .read_exact_at(&mut last, len - 1)
            .map_err(|e| Error::io(path, "read last byte", e))?;
        Ok(last[0] == b'\n')
    }
}

/// Takes the exclusive lock, waiting as long as it takes; a signal does not end the wait.
fn lock(file: &File) -> io::Result<()> {
    loop {
        match file.lock() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// fsyncs a directory so that names created or removed in it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io(dir, "open directory", e))?;
    d.sync_all()
        .map_err(|e| Error::io(dir, "fsync directory", e))
}

/// The error of opening a day file: a symbolic link or a non-regular file at its name is
/// named as such, anything else is the operating system's error.
pub fn open_error(path: &Path, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => Error::Symlink { path: path.into() },
        Some(libc::EISDIR) | Some(libc::ENXIO) => Error::NotRegular { path: path.into() },
        _ => Error::io(path, "open", e),
    }
}

/// With the lock held on the file whose identity is `dev` and `ino`: the path's own
/// metadata if that file is still the one at `path`, `None` if it was unlinked or
/// replaced. One `lstat` answers it, and gives the link count and length too.
fn still_here(path: &Path, dev: u64, ino: u64) -> Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(at) if at.dev() == dev && at.ino() == ino => Ok(Some(at)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, "stat", e)),
    }
}

/// Opens an existing day file for reading and takes its exclusive lock, as a writer
/// does, checking with the lock held that the file is still the one at `path` (else it
/// tries again); `None` if it is gone. Refuses symbolic links, non-regular files, and
/// files with other hard links unless `linked_ok`. Maintenance uses it to fold a day.
pub fn lock_existing(path: &Path, linked_ok: bool) -> Result<Option<File>> {
    for _ in 0..MAX_REOPENS {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(OPEN_FLAGS)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(open_error(path, e)),
        };
        lock(&file).map_err(|source| Error::Lock {
            path: path.into(),
            source,
        })?;
        let mine = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
        if still_here(path, mine.dev(), mine.ino())?.is_none() {
            // Replaced or removed while we waited for the lock: the next open tells which.
            continue;
        }
        if !mine.is_file() {
            return Err(Error::NotRegular { path: path.into() });
        }
        if mine.nlink() > 1 && !linked_ok {
            return Err(Error::HardLinked {
                path: path.into(),
                links: mine.nlink(),
            });
        }
        return Ok(Some(file));
    }
    Err(Error::Unstable {
        path: path.into(),
        attempts: MAX_REOPENS,
    })
}

/// Opens the file at `path`, creating it with mode 0640 when it is missing (whatever
/// the umask), never through a symbolic link; `write` asks for write access to an
/// existing one (a new one is always writable).
pub fn create_or_open(path: &Path, write: bool) -> Result<File> {
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(OPEN_FLAGS)
        .open(path);
    match created {
        Ok(f) => {
            f.set_permissions(Permissions::from_mode(FILE_MODE))
                .map_err(|e| Error::io(path, "chmod", e))?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(OPEN_FLAGS)
            .open(path)
            .map_err(|e| open_error(path, e)),
        Err(e) => Err(open_error(path, e)),
    }
}

/// Opens a day file for reading, never through a symbolic link (and never hanging on a
/// planted FIFO); `Ok(None)` if it does not exist.
pub fn open_day_file(path: &Path) -> io::Result<Option<File>> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(path);
    match opened {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
