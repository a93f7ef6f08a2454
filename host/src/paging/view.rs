//! A guest's memory as the guest sees it: memory, page-table format and root in one value.

use super::{Error, PAGE_SIZE, PageTableFormat, Translation};
use vm_memory::{Bytes, GuestAddress, GuestMemory};

/// Guest memory seen through one set of page tables: what decoding a ucall, reading its
/// strings, translating addresses and probing for the ucall page all need.
///
/// Every read translates each page on its own, so a buffer may cross into another mapping, an
/// unmapped page is reported at its own address, and nothing outside `memory` is ever touched.
///
/// ```
/// use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
/// use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
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

    /// Fills `buf` from guest-virtual memory at `gva`, one page at a time.
    pub fn read(&self, gva: u64, buf: &mut [u8]) -> Result<(), Error> {
        // The last byte must not lie beyond 2^64 - 1: a guest range never wraps around to 0.
        if !buf.is_empty() && gva.checked_add(buf.len() as u64 - 1).is_none() {
            return Err(Error::WrapsAround {
                gva,
                len: buf.len(),
            });
        }
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
