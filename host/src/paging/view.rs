//! A guest's memory as the guest sees it: memory, page-table format and root in one value.

use super::{Error, PAGE_SIZE, PageTableFormat, Translation};
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};

/// Guest memory seen through one set of page tables: what decoding a ucall, reading its
/// strings, translating addresses and probing for the ucall page all need.
///
/// Every read translates each page on its own, so a buffer may cross into another mapping, an
/// unmapped page is reported at its own address, and nothing outside `memory` is ever touched.
///
/// ```
/// use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
/// use vm_memory::{Bytes, GuestAddress};
/// use ucall_host::memory::HeapMemory;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
/// let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
/// tables.identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)?;
/// memory.write_slice(b"ucall\0", GuestAddress(0x1_0ffe)).unwrap();
/// let guest = tables.view(&memory);
/// let mut buf = [0; 5];
/// guest.read(0x1_0ffe, &mut buf)?;
/// assert_eq!(&buf, b"ucall");
/// assert_eq!(guest.read_c_string(0x1_0ffe, 64)?, "ucall");
/// assert_eq!(guest.translate(0x1_0ffe)?.gpa, 0x1_0ffe);
/// # Ok::<(), ucall_host::paging::Error>(())
/// ```
#[derive(Debug)]
pub struct GuestView<'a, M: ?Sized, F> {
    memory: &'a M,
    format: &'a F,
    root: GuestAddress,
}

impl<M: ?Sized, F> Clone for GuestView<'_, M, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: ?Sized, F> Copy for GuestView<'_, M, F> {}

impl<'a, M: GuestMemory + ?Sized, F: PageTableFormat> GuestView<'a, M, F> {
    /// `memory` through the tables of `format` at `root` (the value of CR3, TTBR0_EL1 or the
    /// like; flag bits beside the address are ignored).
    pub fn new(memory: &'a M, format: &'a F, root: GuestAddress) -> Self {
        GuestView {
            memory,
            format,
            root,
        }
    }

    /// The guest's memory.
    pub fn memory(&self) -> &'a M {
        self.memory
    }

    /// The page-table format.
    pub fn format(&self) -> &'a F {
        self.format
    }

    /// The root of the tables.
    pub fn root(&self) -> GuestAddress {
        self.root
    }

    /// Where `gva` leads.
    pub fn translate(&self, gva: u64) -> Result<Translation, Error> {
        self.format.translate(self.memory, self.root, gva)
    }

    /// Where `gva` leads for a write: as [`translate`](Self::translate), and every entry on the
    /// way must let the guest write ([`Error::NotWritable`] names the first that does not).
    pub fn translate_for_write(&self, gva: u64) -> Result<Translation, Error> {
        self.format.translate_for_write(self.memory, self.root, gva)
    }

    /// Fills `buf` from guest-virtual memory at `gva`, one page at a time.
    pub fn read(&self, gva: u64, buf: &mut [u8]) -> Result<(), Error> {
        check_no_wrap(gva, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            let address = gva + done as u64;
            let in_page = (PAGE_SIZE - address % PAGE_SIZE) as usize;
            let chunk = in_page.min(buf.len() - done);
            let gpa = self.translate(address)?.gpa;
            self.memory
                .read_slice(&mut buf[done..done + chunk], GuestAddress(gpa))
                .map_err(|_| Error::OutsideMemory { gva: address, gpa })?;
            done += chunk;
        }
        Ok(())
    }

    /// Writes `bytes` to guest-virtual memory at `gva`, all of them or none: every page is
    /// translated for writing ([`translate_for_write`](Self::translate_for_write)) and checked
    /// to be guest RAM before the first byte is written. A range that wraps, crosses an
    /// unmapped or read-only page, or leads outside guest memory (an MMIO page) is an error and
    /// nothing is written.
    ///
    /// ```
    /// use ucall_host::paging::{self, x86_64::X86_64, MemoryKind, PageTables};
    /// use vm_memory::{Bytes, GuestAddress};
    /// use ucall_host::memory::HeapMemory;
    ///
    /// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
    /// let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
    /// tables.identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)?;
    /// let guest = tables.view(&memory);
    /// guest.write(0x1_0ffc, &[1, 2, 3, 4, 5, 6, 7, 8])?;
    /// assert_eq!(memory.read_obj::<u64>(GuestAddress(0x1_0ffc)).unwrap(), 0x0807_0605_0403_0201);
    /// // Past the end of the mapping: refused, and the mapped part is left alone.
    /// let err = guest.write(0x1f_fffc, &[0xff; 8]).unwrap_err();
    /// assert!(matches!(err, paging::Error::NotMapped { gva: 0x20_0000, .. }));
    /// assert_eq!(memory.read_obj::<u32>(GuestAddress(0x1f_fffc)).unwrap(), 0);
    /// # Ok::<(), paging::Error>(())
    /// ```
    pub fn write(&self, gva: u64, bytes: &[u8]) -> Result<(), Error> {
        check_no_wrap(gva, bytes.len())?;
        let mut pieces = Vec::new();
        let mut done = 0;
        while done < bytes.len() {
            let address = gva + done as u64;
            let in_page = (PAGE_SIZE - address % PAGE_SIZE) as usize;
            let chunk = in_page.min(bytes.len() - done);
            let gpa = self.translate_for_write(address)?.gpa;
            if !self
                .memory
                .check_range(GuestAddress(gpa), chunk, Permissions::Write)
            {
                return Err(Error::OutsideMemory { gva: address, gpa });
            }
            pieces.push((gpa, done..done + chunk));
            done += chunk;
        }
        for (gpa, range) in pieces {
            self.memory
                .write_slice(&bytes[range], GuestAddress(gpa))
                .map_err(|_| Error::OutsideMemory { gva, gpa })?;
        }
        Ok(())
    }

    /// Reads the NUL-terminated UTF-8 string at `gva`, of at most `max_len` bytes with its
    /// NUL, reading no further than the NUL's page.
    pub fn read_c_string(&self, gva: u64, max_len: usize) -> Result<String, Error> {
        let mut bytes = Vec::new();
        while bytes.len() < max_len {
            // A string that reaches the top of the address space without its NUL would wrap.
            let address = gva
                .checked_add(bytes.len() as u64)
                .ok_or(Error::WrapsAround { gva, len: max_len })?;
            let in_page = (PAGE_SIZE - address % PAGE_SIZE) as usize;
            let start = bytes.len();
            bytes.resize(start + in_page.min(max_len - start), 0);
            self.read(address, &mut bytes[start..])?;
            if let Some(nul) = bytes[start..].iter().position(|&b| b == 0) {
                bytes.truncate(start + nul);
                return String::from_utf8(bytes).map_err(|e| Error::StringNotUtf8 {
                    gva,
                    valid_up_to: e.utf8_error().valid_up_to(),
                });
            }
        }
        Err(Error::StringUnterminated { gva, max_len })
    }
}

/// An error unless the `len` bytes at `gva` end at or below 2^64 - 1: a guest range never wraps
/// around to 0.
fn check_no_wrap(gva: u64, len: usize) -> Result<(), Error> {
    if len != 0 && gva.checked_add(len as u64 - 1).is_none() {
        return Err(Error::WrapsAround { gva, len });
    }
    Ok(())
}
