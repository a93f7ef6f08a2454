//! What the loader checks before it touches guest memory: the ELF's type, each loadable
//! segment against the file and the address space, the segments against each other, and the
//! entry point. Every check is linear in the number of program headers (plus a sort).

use super::LoadError;
use goblin::elf::Elf;
use goblin::elf::header::ET_EXEC;
use goblin::elf::program_header::{PF_W, PT_LOAD};
use std::ops::Range;

/// One loadable segment, checked: its bytes are in the file and its addresses do not wrap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The program header's index.
    pub index: usize,
    /// Where it loads, guest-physical (`p_paddr` for `p_memsz` bytes).
    pub gpa: Range<u64>,
    /// Where it is, guest-virtual (`p_vaddr` for `p_memsz` bytes).
    pub gva: Range<u64>,
    /// Its bytes in the file (`p_offset` for `p_filesz` bytes); the rest of `gpa` is zeroed.
    pub file: Range<usize>,
    /// Whether the guest may write it (`PF_W`).
    pub writable: bool,
}

impl Segment {
    /// Its memory size.
    pub fn len(&self) -> u64 {
        self.gpa.end - self.gpa.start
    }

    /// Whether it loads no bytes (never true of a segment the loader keeps).
    pub fn is_empty(&self) -> bool {
        self.gpa.is_empty()
    }
}

/// Refuses anything but an executable: other types need relocation or a dynamic loader.
pub(super) fn check_type(elf: &Elf<'_>) -> Result<(), LoadError> {
    match elf.header.e_type {
        ET_EXEC => Ok(()),
        found => Err(LoadError::NotExecutable { found }),
    }
}

/// The `PT_LOAD` segments with a memory size, each checked against the file and the address
/// space, sorted by guest-physical address and checked not to overlap.
pub(super) fn loadable_segments(elf: &Elf<'_>, file_len: usize) -> Result<Vec<Segment>, LoadError> {
    let mut segments = Vec::new();
    for (index, ph) in elf.program_headers.iter().enumerate() {
        if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        if ph.p_filesz > ph.p_memsz {
            return Err(LoadError::FileSizeExceedsMemorySize { segment: index });
        }
        // A segment with no file bytes (all .bss) may carry any offset: linkers leave one past
        // the end of the file.
        let file = if ph.p_filesz == 0 {
            Some(0..0)
        } else {
            usize::try_from(ph.p_offset)
                .ok()
                .zip(usize::try_from(ph.p_filesz).ok())
                .and_then(|(start, len)| Some(start..start.checked_add(len)?))
                .filter(|file| file.end <= file_len)
        };
        let file = file.ok_or(LoadError::BeyondFile { segment: index })?;
        let wraps = LoadError::Wraps { segment: index };
        let gpa_end = ph.p_paddr.checked_add(ph.p_memsz).ok_or(wraps)?;
        let gva_end = ph
            .p_vaddr
            .checked_add(ph.p_memsz)
            .ok_or(LoadError::Wraps { segment: index })?;
        segments.push(Segment {
            index,
            gpa: ph.p_paddr..gpa_end,
            gva: ph.p_vaddr..gva_end,
            file,
            writable: ph.p_flags & PF_W != 0,
        });
    }
    if segments.is_empty() {
        return Err(LoadError::NoLoadableSegment);
    }
    segments.sort_by_key(|segment| (segment.gpa.start, segment.index));
    for pair in segments.windows(2) {
        let [first, second] = pair else { continue };
        if second.gpa.start < first.gpa.end {
            return Err(LoadError::SegmentsOverlap {
                first: first.index,
                second: second.index,
                at: second.gpa.start,
            });
        }
    }
    Ok(segments)
}

/// Refuses an entry point that no segment covers: the vCPU would start in zeroed or host memory.
pub(super) fn check_entry(entry: u64, segments: &[Segment]) -> Result<(), LoadError> {
    if segments.iter().any(|segment| segment.gva.contains(&entry)) {
        Ok(())
    } else {
        Err(LoadError::EntryOutsideSegments { entry })
    }
}
