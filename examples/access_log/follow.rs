//! Following a log file by polling, as `tail -F` does.
//!
//! Only regular files are read. What the path names is looked at (`stat`, through
//! symlinks) before it is opened, and the open itself cannot block (`O_NONBLOCK`)
//! and is checked again (`fstat`), so a directory, a FIFO or a device at the path
//! is reported ([`Event::NotRegular`]) and never read.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The longest line kept whole; a longer one is skipped up to its newline and
/// reported as [`Event::Dropped`], so a file without newlines cannot fill memory.
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;

/// What a poll found, in file order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// A complete line, without its `\n` (or `\r\n`).
    Line(&'a [u8]),
    /// A line that cannot be read whole: longer than [`MAX_LINE_BYTES`], or the
    /// unterminated start of a line that a truncation cut off.
    Dropped,
    /// The path now names another file (renamed away and re-created, or
    /// replaced) and that file is not empty: the old file was read to its end and
    /// the new one is read from its start.
    Rotated,
    /// The file shrank below what was read: it is read again from its start.
    Truncated,
    /// The path names something other than a regular file, which is not read
    /// (reported once each time such a thing appears at the path). The file being
    /// read, if any, stays open and is read as after a rename; reading moves on
    /// once a regular file is back at the path.
    NotRegular(Kind),
}

/// What the path names when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    /// A type this code does not know (none on Linux).
    Other,
}

impl Kind {
    /// The kind of a file type, `None` for a regular file.
    fn of(file_type: FileType) -> Option<Self> {
        let kind = if file_type.is_file() {
            return None;
        } else if file_type.is_dir() {
            Self::Directory
        } else if file_type.is_fifo() {
            Self::Fifo
        } else if file_type.is_socket() {
            Self::Socket
        } else if file_type.is_char_device() {
            Self::CharDevice
        } else if file_type.is_block_device() {
            Self::BlockDevice
        } else {
            Self::Other
        };
        Some(kind)
    }

    /// What it is called in messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Directory => "a directory",
            Self::Fifo => "a FIFO",
            Self::Socket => "a socket",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Other => "a file of an unknown type",
        }
    }

    /// Its name as a label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
            Self::CharDevice => "char_device",
            Self::BlockDevice => "block_device",
            Self::Other => "other",
        }
    }
}

/// Where reading starts in the file found at start-up. A file that appears later
/// is always read from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Read the existing content.
    Beginning,
    /// Skip the existing lines, read only what is appended (and an unterminated
    /// last line, once it completes).
    End,
}

/// The file being read.
#[derive(Debug)]
struct Open {
    file: File,
    /// `(device, inode)`: which file this is, whatever its name now.
    id: (u64, u64),
    /// How far it has been read.
    offset: u64,
}

/// The line being read, across reads and polls.
#[derive(Debug, Default)]
struct LineBuffer {
    /// The bytes of a line whose `\n` has not been read yet.
    partial: Vec<u8>,
    /// Whether that line passed [`MAX_LINE_BYTES`] and is being skipped.
    overlong: bool,
}

impl LineBuffer {
    /// Adds bytes to the line, or skips them once it is too long.
    fn push(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.partial.len() + bytes.len() > MAX_LINE_BYTES {
            self.partial.clear();
            self.overlong = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// Ends the line at its `\n`: a [`Event::Line`] without a trailing `\r`, or
    /// [`Event::Dropped`] when it was too long.
    fn end_line(&mut self, emit: &mut impl FnMut(Event<'_>)) {
        if self.overlong {
            emit(Event::Dropped);
        } else {
            emit(Event::Line(
                self.partial.strip_suffix(b"\r").unwrap_or(&self.partial),
            ));
        }
        self.reset();
    }

    /// Ends a file whose last line is unterminated, if it is: that line is read
    /// as a line when `complete` (the file will not grow any more), dropped when
    /// its rest was lost.
    fn end_file(&mut self, complete: bool, emit: &mut impl FnMut(Event<'_>)) {
        if self.partial.is_empty() && !self.overlong {
            return;
        }
        if complete {
            self.end_line(emit);
        } else {
            emit(Event::Dropped);
            self.reset();
        }
    }

    fn reset(&mut self) {
        self.partial.clear();
        self.overlong = false;
    }
}

/// A file followed through rotation by rename and by truncation. Call
/// [`poll`](Self::poll) periodically.
#[derive(Debug)]
pub(crate) struct Follower {
    path: PathBuf,
    /// `None` while the path names no regular file that could be opened.
    open: Option<Open>,
    /// The `(device, inode)` of the thing other than a regular file last reported
    /// at the path, so that it is reported once; cleared when the path names a
    /// regular file or nothing.
    reported: Option<(u64, u64)>,
    line: LineBuffer,
    buf: Box<[u8]>,
}

impl Follower {
    /// Opens `path` and places the reader at `start`. A missing file is not an
    /// error: it is waited for; nor is something other than a regular file at the
    /// path, which the first poll reports.
    pub(crate) fn new(path: impl Into<PathBuf>, start: Start) -> io::Result<Self> {
        let mut follower = Self {
            path: path.into(),
            open: None,
            reported: None,
            line: LineBuffer::default(),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
        };
        if let Some(mut open) = follower.open_regular(&mut |_| {})? {
            if start == Start::End {
                open.offset = start_of_last_line(&mut open.file)?;
            }
            follower.open = Some(open);
        }
        // Anything else at the path is reported by the first poll.
        follower.reported = None;
        Ok(follower)
    }

    /// The path followed.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads whatever was written since the last poll and reports it to `emit`:
    /// the rest of the current file, then, if the path names a new file, that
    /// file from its start.
    ///
    /// # Errors
    /// I/O errors other than a missing file; the next poll tries again.
    pub(crate) fn poll(&mut self, emit: &mut impl FnMut(Event<'_>)) -> io::Result<()> {
        loop {
            let Some(mut open) = self.open.take() else {
                self.open = self.open_regular(emit)?;
                if self.open.is_none() {
                    return Ok(());
                }
                continue;
            };
            let result = self.advance(&mut open, emit);
            // Kept on error, so that nothing read so far is read again.
            self.open = Some(open);
            let Some(next) = result? else {
                return Ok(());
            };
            // The old file is complete: an unterminated last line is a line.
            self.line.end_file(true, emit);
            self.open = Some(next);
            emit(Event::Rotated);
        }
    }

    /// Reads `open` to its end, noticing truncation first; returns the file the
    /// path names now if that is another one.
    fn advance(
        &mut self,
        open: &mut Open,
        emit: &mut impl FnMut(Event<'_>),
    ) -> io::Result<Option<Open>> {
        if open.file.metadata()?.len() < open.offset {
            open.file.seek(SeekFrom::Start(0))?;
            open.offset = 0;
            // The rest of an unterminated line is gone with the truncation.
            self.line.end_file(false, emit);
            emit(Event::Truncated);
        }
        self.drain(open, emit)?;
        match self.look(emit)? {
            // Another file, and the writer has begun it. While it is empty the old
            // one may still be written to: logrotate creates the new file before
            // the server is told to reopen its log.
            Some(meta) if (meta.dev(), meta.ino()) != open.id && meta.len() > 0 => {}
            // Renamed away and not re-created yet, or replaced by something that
            // is not read: the writer may still append to the old file, so it
            // stays open.
            _ => return Ok(None),
        }
        let Some(next) = self.open_regular(emit)? else {
            return Ok(None);
        };
        // What was appended to the old file between the read and the switch.
        self.drain(open, emit)?;
        Ok(Some(next))
    }

    /// What the path names (`stat`, through symlinks) if it is a regular file;
    /// `None` if it names nothing, and also if it names something else, which is
    /// then reported, once until the path changes.
    fn look(&mut self, emit: &mut impl FnMut(Event<'_>)) -> io::Result<Option<Metadata>> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.reported = None;
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        Ok(self.regular(meta, emit))
    }

    /// `meta` if it is a regular file's; otherwise reports it (once) and `None`.
    fn regular(&mut self, meta: Metadata, emit: &mut impl FnMut(Event<'_>)) -> Option<Metadata> {
        let Some(kind) = Kind::of(meta.file_type()) else {
            self.reported = None;
            return Some(meta);
        };
        let id = (meta.dev(), meta.ino());
        if self.reported != Some(id) {
            self.reported = Some(id);
            emit(Event::NotRegular(kind));
        }
        None
    }

    /// Opens the path if it names a regular file. Nothing else is opened: should
    /// a FIFO or a device replace the file between the look and the open, the open
    /// does not wait (`O_NONBLOCK`, which changes nothing for a regular file) and
    /// the check after it closes it again.
    fn open_regular(&mut self, emit: &mut impl FnMut(Event<'_>)) -> io::Result<Option<Open>> {
        if self.look(emit)?.is_none() {
            return Ok(None);
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&self.path)
        {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let Some(meta) = self.regular(file.metadata()?, emit) else {
            return Ok(None);
        };
        Ok(Some(Open {
            file,
            id: (meta.dev(), meta.ino()),
            offset: 0,
        }))
    }

    /// Reads `open` to its current end, reporting every completed line.
    fn drain(&mut self, open: &mut Open, emit: &mut impl FnMut(Event<'_>)) -> io::Result<()> {
        loop {
            let n = match open.file.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            open.offset += n as u64;
            let mut rest = &self.buf[..n];
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                self.line.push(&rest[..end]);
                self.line.end_line(emit);
                rest = &rest[end + 1..];
            }
            self.line.push(rest);
        }
    }
}

/// Where reading "from the end" of `file` starts: after its last `\n`, so that an
/// unterminated last line is read whole once it completes. When that line is
/// already longer than [`MAX_LINE_BYTES`], reading starts far enough back for it
/// to be dropped whole.
fn start_of_last_line(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let base = len.saturating_sub(MAX_LINE_BYTES as u64 + 1);
    file.seek(SeekFrom::Start(base))?;
    let mut tail = Vec::new();
    file.by_ref().take(len - base).read_to_end(&mut tail)?;
    let offset = tail
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(base, |newline| base + newline as u64 + 1);
    file.seek(SeekFrom::Start(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Command;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "promhttp-access-log-unit-{}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn log(&self) -> PathBuf {
            self.0.join("access.log")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn append(path: &Path, bytes: &str) {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(bytes.as_bytes())
            .unwrap();
    }

    /// The events of one poll, lines as strings.
    fn poll(follower: &mut Follower) -> Vec<String> {
        let mut seen = Vec::new();
        follower
            .poll(&mut |event| {
                seen.push(match event {
                    Event::Line(line) => String::from_utf8_lossy(line).into_owned(),
                    other => format!("<{other:?}>"),
                })
            })
            .unwrap();
        seen
    }

    #[test]
    fn starts_at_the_end_or_the_beginning() {
        let dir = TempDir::new("start");
        append(&dir.log(), "old\n");
        let mut at_end = Follower::new(dir.log(), Start::End).unwrap();
        let mut at_start = Follower::new(dir.log(), Start::Beginning).unwrap();
        append(&dir.log(), "new\n");
        assert_eq!(poll(&mut at_end), ["new"]);
        assert_eq!(poll(&mut at_start), ["old", "new"]);
    }

    #[test]
    fn starting_at_the_end_reads_an_unterminated_last_line_whole() {
        let dir = TempDir::new("start-partial");
        append(&dir.log(), "old\nhalf");
        let mut follower = Follower::new(dir.log(), Start::End).unwrap();
        append(&dir.log(), " done\n");
        assert_eq!(poll(&mut follower), ["half done"]);

        let long = TempDir::new("start-overlong");
        append(
            &long.log(),
            &format!("old\n{}", "x".repeat(MAX_LINE_BYTES + 1)),
        );
        let mut follower = Follower::new(long.log(), Start::End).unwrap();
        append(&long.log(), "x\nnew\n");
        assert_eq!(poll(&mut follower), ["<Dropped>", "new"]);
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let dir = TempDir::new("partial");
        let mut follower = Follower::new(dir.log(), Start::End).unwrap();
        append(&dir.log(), "first half");
        assert!(poll(&mut follower).is_empty());
        append(&dir.log(), ", second half\r\nnext");
        assert_eq!(poll(&mut follower), ["first half, second half"]);
        append(&dir.log(), "\n");
        assert_eq!(poll(&mut follower), ["next"]);
    }

    #[test]
    fn rename_rotation_drains_the_old_file_then_reads_the_new_one() {
        let dir = TempDir::new("rename");
        append(&dir.log(), "");
        let mut follower = Follower::new(dir.log(), Start::End).unwrap();
        append(&dir.log(), "a\n");
        std::fs::rename(dir.log(), dir.0.join("access.log.1")).unwrap();
        // Still written to under its new name, before the new file exists.
        append(&dir.0.join("access.log.1"), "b\nunterminated");
        assert_eq!(poll(&mut follower), ["a", "b"]);
        append(&dir.log(), "c\n");
        assert_eq!(poll(&mut follower), ["unterminated", "<Rotated>", "c"]);
        assert!(poll(&mut follower).is_empty());
    }

    #[test]
    fn the_old_file_is_read_until_the_new_one_is_written_to() {
        let dir = TempDir::new("create");
        append(&dir.log(), "");
        let mut follower = Follower::new(dir.log(), Start::End).unwrap();
        std::fs::rename(dir.log(), dir.0.join("access.log.1")).unwrap();
        // logrotate's `create`: a new empty file, then the server reopens.
        append(&dir.log(), "");
        append(&dir.0.join("access.log.1"), "late\n");
        assert_eq!(poll(&mut follower), ["late"]);
        append(&dir.0.join("access.log.1"), "later\n");
        append(&dir.log(), "new\n");
        assert_eq!(poll(&mut follower), ["later", "<Rotated>", "new"]);
    }

    #[test]
    fn truncation_restarts_from_the_beginning() {
        let dir = TempDir::new("truncate");
        let mut follower = Follower::new(dir.log(), Start::End).unwrap();
        append(&dir.log(), "one\ntwo\ncut");
        assert_eq!(poll(&mut follower), ["one", "two"]);
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(dir.log())
            .unwrap();
        append(&dir.log(), "x\n");
        assert_eq!(poll(&mut follower), ["<Dropped>", "<Truncated>", "x"]);
    }

    #[test]
    fn a_missing_file_is_waited_for_and_read_from_its_start() {
        let dir = TempDir::new("missing");
        let mut follower = Follower::new(dir.log(), Start::End).unwrap();
        assert!(poll(&mut follower).is_empty());
        append(&dir.log(), "born\n");
        assert_eq!(poll(&mut follower), ["born"]);
    }

    #[test]
    fn overlong_lines_are_dropped_whole() {
        let dir = TempDir::new("overlong");
        let mut follower = Follower::new(dir.log(), Start::End).unwrap();
        append(&dir.log(), &"x".repeat(MAX_LINE_BYTES));
        assert!(poll(&mut follower).is_empty());
        append(&dir.log(), "y");
        assert!(poll(&mut follower).is_empty());
        append(
            &dir.log(),
            &format!("{}\nshort\n", "z".repeat(3 * MAX_LINE_BYTES)),
        );
        assert_eq!(poll(&mut follower), ["<Dropped>", "short"]);
        let max = "m".repeat(MAX_LINE_BYTES);
        append(&dir.log(), &format!("{max}\n"));
        assert_eq!(poll(&mut follower), [max]);
    }

    /// Runs `f` on a thread of its own and returns its result, failing the test
    /// if that takes over ten seconds: an open or a read that blocks (the thread
    /// is left behind).
    fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = mpsc::channel();
        std::thread::spawn(move || done.send(f()));
        result
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what} did not return: it blocked or spun"))
    }

    /// A follower started within the bound of [`within`].
    fn start(path: PathBuf, at: Start) -> Follower {
        within("Follower::new", move || Follower::new(path, at).unwrap())
    }

    /// [`poll`] within the bound of [`within`].
    fn poll_within(follower: Follower) -> (Follower, Vec<String>) {
        within("poll", move || {
            let mut follower = follower;
            let seen = poll(&mut follower);
            (follower, seen)
        })
    }

    fn mkfifo(path: &Path) {
        let status = Command::new("mkfifo").arg(path).status().unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    }

    #[test]
    fn a_directory_replacing_the_file_is_reported_and_the_old_file_read_until_a_file_is_back() {
        let dir = TempDir::new("directory");
        let rotated = dir.0.join("access.log.1");
        append(&dir.log(), "");
        let follower = start(dir.log(), Start::End);
        append(&dir.log(), "a\n");
        // `mv access.log access.log.1; mkdir access.log`
        std::fs::rename(dir.log(), &rotated).unwrap();
        std::fs::create_dir(dir.log()).unwrap();
        append(&rotated, "b\n");
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["a", "b", "<NotRegular(Directory)>"]);
        // Reported once; the old file is still read.
        append(&rotated, "c\n");
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["c"]);
        // A regular file is back: the old one is read to its end, then the new one.
        std::fs::remove_dir(dir.log()).unwrap();
        append(&rotated, "d\n");
        append(&dir.log(), "e\n");
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["d", "<Rotated>", "e"]);
        // And a directory appearing again is reported again.
        std::fs::rename(dir.log(), dir.0.join("access.log.2")).unwrap();
        std::fs::create_dir(dir.log()).unwrap();
        let (_, seen) = poll_within(follower);
        assert_eq!(seen, ["<NotRegular(Directory)>"]);
    }

    #[test]
    fn a_fifo_at_start_up_is_reported_never_opened_and_a_file_in_its_place_is_read() {
        let dir = TempDir::new("fifo-start");
        mkfifo(&dir.log());
        let follower = start(dir.log(), Start::End);
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["<NotRegular(Fifo)>"]);
        let (follower, seen) = poll_within(follower);
        assert!(seen.is_empty(), "{seen:?}");
        std::fs::remove_file(dir.log()).unwrap();
        append(&dir.log(), "first\n");
        let (_, seen) = poll_within(follower);
        assert_eq!(seen, ["first"]);
    }

    #[test]
    fn a_fifo_appearing_later_is_reported_and_reading_resumes_with_a_file() {
        let dir = TempDir::new("fifo-later");
        let follower = start(dir.log(), Start::End);
        mkfifo(&dir.log());
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["<NotRegular(Fifo)>"]);
        std::fs::remove_file(dir.log()).unwrap();
        append(&dir.log(), "x\n");
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["x"]);
        // Replacing the file being read: the old one stays, as after a rename.
        std::fs::rename(dir.log(), dir.0.join("access.log.1")).unwrap();
        mkfifo(&dir.log());
        append(&dir.0.join("access.log.1"), "y\n");
        let (_, seen) = poll_within(follower);
        assert_eq!(seen, ["y", "<NotRegular(Fifo)>"]);
    }

    #[test]
    fn devices_and_sockets_are_not_read_and_symlinks_to_files_are() {
        let dir = TempDir::new("devices");
        // `/dev/urandom` never ends and has no newlines to speak of; `/dev/zero`
        // has none at all.
        std::os::unix::fs::symlink("/dev/urandom", dir.log()).unwrap();
        let follower = start(dir.log(), Start::Beginning);
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["<NotRegular(CharDevice)>"]);
        std::fs::remove_file(dir.log()).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.log()).unwrap();
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["<NotRegular(CharDevice)>"]);
        std::fs::remove_file(dir.log()).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(dir.log()).unwrap();
        let (follower, seen) = poll_within(follower);
        assert_eq!(seen, ["<NotRegular(Socket)>"]);
        std::fs::remove_file(dir.log()).unwrap();
        let target = dir.0.join("current");
        append(&target, "via a symlink\n");
        std::os::unix::fs::symlink(&target, dir.log()).unwrap();
        let (_, seen) = poll_within(follower);
        assert_eq!(seen, ["via a symlink"]);
    }
}
