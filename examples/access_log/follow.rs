//! Following a log file by polling, as `tail -F` does.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
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

impl Open {
    fn new(file: File) -> io::Result<Self> {
        let meta = file.metadata()?;
        Ok(Self {
            file,
            id: (meta.dev(), meta.ino()),
            offset: 0,
        })
    }
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
    /// `None` while the path names no file that could be opened.
    open: Option<Open>,
    line: LineBuffer,
    buf: Box<[u8]>,
}

impl Follower {
    /// Opens `path` and places the reader at `start`. A missing file is not an
    /// error: it is waited for.
    pub(crate) fn new(path: impl Into<PathBuf>, start: Start) -> io::Result<Self> {
        let mut follower = Self {
            path: path.into(),
            open: None,
            line: LineBuffer::default(),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
        };
        if let Some(mut open) = follower.open_path()? {
            if start == Start::End {
                open.offset = start_of_last_line(&mut open.file)?;
            }
            follower.open = Some(open);
        }
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
                self.open = self.open_path()?;
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
        match std::fs::metadata(&self.path) {
            // Another file, and the writer has begun it. While it is empty the old
            // one may still be written to: logrotate creates the new file before
            // the server is told to reopen its log.
            Ok(meta) if (meta.dev(), meta.ino()) != open.id && meta.len() > 0 => {}
            Ok(_) => return Ok(None),
            // Renamed away and not re-created yet: the writer may still append to
            // the old file, so it stays open.
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        }
        let Some(next) = self.open_path()? else {
            return Ok(None);
        };
        // What was appended to the old file between the read and the switch.
        self.drain(open, emit)?;
        Ok(Some(next))
    }

    fn open_path(&self) -> io::Result<Option<Open>> {
        match File::open(&self.path) {
            Ok(file) => Open::new(file).map(Some),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
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
    use std::fs::OpenOptions;
    use std::io::Write;

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
}
