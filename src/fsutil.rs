//! File-system guards shared by everything that reads user-named paths (recorded inputs, rule
//! files): what kind of file a path is, so a FIFO, socket or device is skipped with a reason
//! instead of blocking a read forever, and the identity of a file or directory, so a walk that
//! meets a symlink loop or the same file twice reads it once.

use std::fs::Metadata;

/// Why a path that exists is not read as a file, or `None` for a regular file or a directory.
/// A FIFO would block `open` until a writer appears; sockets and devices are no event logs.
#[must_use]
pub fn not_regular(meta: &Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_file() || ft.is_dir() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if ft.is_socket() {
            return Some("a socket");
        }
        if ft.is_block_device() || ft.is_char_device() {
            return Some("a device");
        }
    }
    Some("not a regular file")
}

/// A file's identity (device and inode on Unix): two paths with the same id are the same file,
/// whatever links lead to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(u64, u64);

/// The identity of the file `meta` describes (metadata that followed symlinks).
#[must_use]
pub fn file_id(meta: &Metadata) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Some(FileId(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_named_and_a_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo (coreutils) must be installed");
        assert!(status.success());
        let meta = std::fs::metadata(&fifo).unwrap();
        assert_eq!(not_regular(&meta), Some("a FIFO (named pipe)"));
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(not_regular(&std::fs::metadata(&file).unwrap()), None);
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            file_id(&std::fs::metadata(&link).unwrap()),
            file_id(&std::fs::metadata(&file).unwrap())
        );
    }
}
