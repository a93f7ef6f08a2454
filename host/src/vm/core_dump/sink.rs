//! Where a core's bytes go: every byte ([`Dense`]), or runs of zeros seeked over ([`Sparse`]),
//! which a file system with holes stores as nothing.

use std::io::{Read as _, Seek, SeekFrom, Write};

/// Where a core goes: bytes, and runs of zero bytes that may become holes.
pub(super) trait Sink: Write {
    /// `len` zero bytes.
    fn hole(&mut self, len: u64) -> std::io::Result<()>;
    /// Everything written, holes included, the file as long as the core.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// Every byte written.
pub(super) struct Dense<W>(pub(super) W);

impl<W: Write> Write for Dense<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> Sink for Dense<W> {
    fn hole(&mut self, len: u64) -> std::io::Result<()> {
        std::io::copy(&mut std::io::repeat(0).take(len), &mut self.0).map(drop)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Zeros seeked over: a hole is only a seek once the next bytes come.
pub(super) struct Sparse<W> {
    pub(super) out: W,
    /// Zero bytes not yet seeked over.
    pub(super) pending: u64,
}

impl<W: Write + Seek> Sparse<W> {
    fn seek_over(&mut self, len: u64) -> std::io::Result<()> {
        let len = i64::try_from(len).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        self.out.seek(SeekFrom::Current(len)).map(drop)
    }
}

impl<W: Write + Seek> Write for Sparse<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.pending > 0 && !bytes.is_empty() {
            self.seek_over(self.pending)?;
            self.pending = 0;
        }
        self.out.write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write + Seek> Sink for Sparse<W> {
    fn hole(&mut self, len: u64) -> std::io::Result<()> {
        self.pending += len;
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        // A trailing hole needs its last byte written, or the file would end before it.
        if let Some(before_last) = self.pending.checked_sub(1) {
            self.seek_over(before_last)?;
            self.pending = 0;
            self.out.write_all(&[0])?;
        }
        self.out.flush()
    }
}
