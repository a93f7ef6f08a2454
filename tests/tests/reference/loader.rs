//! The check behind the `load_elf` fuzz target: arbitrary bytes as a guest ELF for either
//! machine. Nothing may panic, a load that succeeds did at most a memory's worth of work, a
//! planned layout keeps the host's structures off every segment, and a symbol the host would
//! write is inside a writable segment.

use std::cell::RefCell;
use ucall_host::vm::{GuestImage, Layout, LayoutRequest};
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// Guest memory of every input: 2 MiB at gcc's link address, so that real ELFs load.
const MEMORY_START: u64 = 0x40_0000;
const MEMORY_SIZE: u64 = 2 << 20;
/// `EM_X86_64` and `EM_AARCH64`.
const MACHINES: [u16; 2] = [62, 183];

thread_local! {
    static MEMORY: RefCell<Option<GuestMemoryMmap>> = const { RefCell::new(None) };
}

pub fn load_elf(data: &[u8]) {
    for machine in MACHINES {
        let Ok(image) = GuestImage::parse(data, machine) else {
            continue;
        };
        check_image(&image);
    }
}

fn check_image(image: &GuestImage<'_>) {
    let segments: Vec<_> = image.segments().iter().map(|s| s.gpa.clone()).collect();
    assert!(segments.windows(2).all(|pair| pair[0].end <= pair[1].start));
    assert!(
        image
            .segments()
            .iter()
            .any(|s| s.gva.contains(&image.entry()))
    );

    let loaded = MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let memory = memory.get_or_insert_with(|| {
            GuestMemoryMmap::from_ranges(&[(GuestAddress(MEMORY_START), MEMORY_SIZE as usize)])
                .expect("fuzz memory")
        });
        image.load(memory)
    });
    if let Ok(end) = loaded {
        // The work bound: everything copied or zeroed was inside the memory.
        assert!(image.load_size() <= MEMORY_SIZE);
        assert!(end <= MEMORY_START + MEMORY_SIZE);
    }

    let request = LayoutRequest {
        memory_size: 32 << 20,
        stack_bytes: 64 << 10,
        host_area: 0x2000,
        host_area_name: "GDT and TSS",
        ram_limit: 1 << 48,
    };
    if let Ok(layout) = Layout::plan(&segments, &request) {
        assert!(layout.check(image.segments()).is_ok(), "{layout:?}");
        assert!(
            segments
                .iter()
                .all(|s| layout.ram.start <= s.start && s.end <= layout.stacks.start)
        );
        assert!(
            layout.ram.start <= layout.host_area.start && layout.tables.end <= layout.stacks.start
        );
    }

    if let Ok(gpa) = image.writable_symbol_gpa(ucall_abi::MMIO_ADDR_SYMBOL, 8) {
        assert!(
            image
                .segments()
                .iter()
                .any(|s| s.writable && s.gpa.start <= gpa && gpa + 8 <= s.gpa.end)
        );
    }
}
