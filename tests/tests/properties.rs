//! Property tests: the page walkers, the guest-virtual readers and the decoder, over arbitrary
//! guest memory and exit data, never panic, terminate, read only what a reference model reads,
//! and agree with that model exactly (see `reference/mod.rs`).
//!
//! Each architecture's walker gets the same properties with one line at the bottom
//! (`walker_properties!`).

mod reference;

use proptest::prelude::*;
use reference::riscv64::{Sv39Model, Sv48Model};
use reference::{Aarch64Model, Model, Snapshot, X86_64Model, same};
use ucall_host::decode::{Exit, Transport, decode, read_record};
use ucall_host::paging::{GuestView, MemoryKind, PageTableFormat, PageTables};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const PAGE: u64 = 0x1000;
/// `full` cases. (Only this machine runs these tests: `cargo xtask test` leaves them out of the
/// QEMU machines, since the code is the same Rust on every host.)
fn cases(full: u32) -> ProptestConfig {
    ProptestConfig::with_cases(full)
}

/// Pages that generated entries point at: some exist, some do not.
const PAGES: u64 = 20;

/// Guest memory and a table root: what a walk depends on.
#[derive(Clone, Debug)]
struct World {
    memory: Snapshot,
    root: u64,
    physical_bits: u8,
}

/// A table index: the first few and the last are where generated entries go.
fn index() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..4, 1 => Just(511), 1 => 0u64..512]
}

/// A page for an entry to point at, as a pick: most picks land on a page that exists, the rest
/// anywhere in the first [`PAGES`] pages.
fn pick() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..16, 1 => (0..PAGES).prop_map(|p| p + 1000)]
}

/// The bits of an entry besides its page: mostly present with arbitrary flags (page-size bit
/// included), sometimes a high bit (NX, reserved, ignored), sometimes anything. Valid alone is
/// RISC-V's pointer to a table, which arbitrary flags rarely make.
fn bits() -> impl Strategy<Value = u64> {
    let low = prop_oneof![
        6 => any::<u8>().prop_map(|b| u64::from(b & 0x7f) | 1),
        2 => Just(1u64),
        2 => any::<u8>().prop_map(|b| u64::from(b) | 0x81),
        1 => 0u64..PAGE,
    ];
    let high = prop_oneof![
        8 => Just(0u64),
        1 => Just(1u64 << 63),
        1 => (12u32..64).prop_map(|bit| 1u64 << bit),
    ];
    prop_oneof![8 => (low, high).prop_map(|(low, high)| low | high), 1 => any::<u64>()]
}

/// A guest-virtual address: built from likely table indices (then sign-extended from bit
/// `bits` - 1), anything, or near the top of the address space.
fn gva_of(bits: u32) -> impl Strategy<Value = u64> {
    let composed =
        (index(), index(), index(), index(), 0u64..PAGE).prop_map(move |(a, b, c, d, offset)| {
            let gva = a << 39 | b << 30 | c << 21 | d << 12 | offset;
            ((gva << (64 - bits)) as i64 >> (64 - bits)) as u64
        });
    prop_oneof![
        6 => composed,
        1 => any::<u64>(),
        1 => (0u64..2 * PAGE).prop_map(|back| u64::MAX - back),
    ]
}

/// [`gva_of`] 48-bit addresses.
fn gva() -> impl Strategy<Value = u64> {
    gva_of(48)
}

/// Memory of one or two regions (maybe not starting at 0); a root that may carry low bits (as
/// CR3 does) or point outside memory; entries in `M`'s encoding along the walk of the address
/// (so walks go deep) and at other likely slots; and the address.
fn world<M: Model>() -> impl Strategy<Value = (World, u64)> {
    let layout = (0u64..3, 1u64..=12, prop::option::of((1u64..3, 1u64..=3)));
    let path = prop_oneof![
        3 => prop::collection::vec((pick(), bits()), M::LEVELS as usize),
        1 => prop::collection::vec((pick(), bits()), 0..M::LEVELS as usize),
    ];
    let physical_bits = prop_oneof![4 => 36u8..=52, 1 => 12u8..36];
    let writes = prop::collection::vec((pick(), index(), pick(), bits()), 0..32);
    let root = (pick(), prop_oneof![3 => Just(0u64), 1 => 0u64..PAGE]);
    (
        layout,
        path,
        writes,
        root,
        physical_bits,
        gva_of(M::VIRTUAL_BITS),
    )
        .prop_map(
            |((base, pages, second), path, writes, (root, low), bits, gva)| {
                let mut regions = vec![(base * PAGE, vec![0u8; (pages * PAGE) as usize])];
                if let Some((gap, pages2)) = second {
                    regions.push((
                        (base + pages + gap) * PAGE,
                        vec![0u8; (pages2 * PAGE) as usize],
                    ));
                }
                // Picks below 1000 are pages of memory, in order; others are as they say.
                let existing: Vec<u64> = regions
                    .iter()
                    .flat_map(|(start, bytes)| {
                        (0..bytes.len() as u64 / PAGE).map(move |p| start + p * PAGE)
                    })
                    .collect();
                let page = |pick: u64| match pick {
                    0..1000 => existing[pick as usize % existing.len()],
                    far => far * PAGE,
                };
                let mut memory = Snapshot { regions };
                let mut table = page(root);
                for (level, (next, bits)) in (1..=M::LEVELS).rev().zip(path) {
                    let slot = (gva >> (12 + 9 * (level - 1))) & 511;
                    poke(
                        &mut memory,
                        table + slot * 8,
                        &M::entry(page(next), bits).to_le_bytes(),
                    );
                    table = page(next);
                }
                for (at, slot, to, bits) in writes {
                    poke(
                        &mut memory,
                        page(at) + slot * 8,
                        &M::entry(page(to), bits).to_le_bytes(),
                    );
                }
                let world = World {
                    memory,
                    root: page(root) | low,
                    physical_bits: bits,
                };
                (world, gva)
            },
        )
}

/// Writes `bytes` at `gpa`, dropping what falls outside memory.
fn poke(memory: &mut Snapshot, gpa: u64, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        for (start, region) in &mut memory.regions {
            if let Some(slot) = gpa
                .checked_add(i as u64)
                .and_then(|at| at.checked_sub(*start))
                .and_then(|o| region.get_mut(o as usize))
            {
                *slot = b;
            }
        }
    }
}

/// Memory of 64 pages identity-mapped by tables the host built (4 KiB pages), then overwritten
/// anywhere (tables included) with arbitrary bytes, text and a ucall record.
fn identity_world() -> impl Strategy<Value = (World, u64)> {
    const SIZE: u64 = 64 * PAGE;
    let text_byte =
        prop_oneof![4 => (b'a'..=b'z').boxed(), 1 => Just(0u8).boxed(), 1 => any::<u8>().boxed()];
    let texts = prop::collection::vec((0..SIZE, prop::collection::vec(text_byte, 0..1500)), 0..4);
    let pointer = prop_oneof![3 => 0..SIZE, 1 => gva(), 1 => Just(0u64)];
    let record = (
        prop_oneof![4 => 0..SIZE, 1 => gva()],
        prop_oneof![4 => 0u64..6, 1 => any::<u64>()],
        [
            pointer.clone().boxed(),
            any::<u64>().boxed(),
            pointer.boxed(),
            any::<u64>().boxed(),
            any::<u64>().boxed(),
            any::<u64>().boxed(),
        ],
    );
    let noise = prop::collection::vec((0..SIZE, any::<u64>()), 0..4);
    (texts, record, noise).prop_map(move |(texts, (at, cmd, args), noise)| {
        let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), SIZE as usize)])
            .expect("memory");
        let format = X86_64Model { physical_bits: 46 }.format();
        let mut tables =
            PageTables::new(&memory, format, GuestAddress(PAGE), 8 * PAGE).expect("tables");
        tables
            .identity_map(&memory, 0..SIZE, MemoryKind::Normal)
            .expect("identity map");
        let mut bytes = vec![0u8; SIZE as usize];
        memory
            .read_slice(&mut bytes, GuestAddress(0))
            .expect("snapshot");
        let mut snapshot = Snapshot {
            regions: vec![(0, bytes)],
        };
        for (gpa, text) in texts {
            poke(&mut snapshot, gpa, &text);
        }
        let mut record = cmd.to_le_bytes().to_vec();
        args.iter().for_each(|a| record.extend(a.to_le_bytes()));
        poke(&mut snapshot, at, &record);
        for (gpa, value) in noise {
            poke(&mut snapshot, gpa, &value.to_le_bytes());
        }
        let world = World {
            memory: snapshot,
            root: tables.root().0,
            physical_bits: 46,
        };
        (world, at)
    })
}

/// The same properties for each architecture's walker; `$model` makes the reference model from
/// a physical address width.
macro_rules! walker_properties {
    ($arch:ident, $model:ty, $make:expr) => {
        mod $arch {
            use super::*;

            fn model(physical_bits: u8) -> $model {
                ($make)(physical_bits)
            }

            // Fewer cases than the read walk: the walk is the same code, and the suite also
            // runs in QEMU under a time budget.
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(256))]

                #[test]
                fn translate_for_write_agrees_with_the_model_and_reads_exactly_its_entries((w, gva) in world::<$model>()) {
                    let model = model(w.physical_bits);
                    let memory = w.memory.to_memory();
                    let real = model.format().translate_for_write(&memory, GuestAddress(w.root), gva);
                    let lookups = memory.take_lookups();
                    let (expected, reads) = model.translate_access(&w.memory, w.root, gva, true);
                    prop_assert!(same(&real, &expected), "real {real:?}, model {expected:?}");
                    prop_assert_eq!(lookups, reads);
                }
            }

            proptest! {
                #![proptest_config(cases(1024))]

                #[test]
                fn translate_agrees_with_the_model_and_reads_exactly_its_entries((w, gva) in world::<$model>()) {
                    let model = model(w.physical_bits);
                    let memory = w.memory.to_memory();
                    let real = model.format().translate(&memory, GuestAddress(w.root), gva);
                    let lookups = memory.take_lookups();
                    let (expected, reads) = model.translate(&w.memory, w.root, gva);
                    prop_assert!(same(&real, &expected), "real {real:?}, model {expected:?}");
                    prop_assert_eq!(lookups, reads);
                }

                #[test]
                fn read_virtual_agrees_with_a_byte_by_byte_read((w, gva) in world::<$model>(), len in 0usize..200) {
                    let model = model(w.physical_bits);
                    let memory = w.memory.to_memory();
                    let mut buf = vec![0u8; len];
                    let real = GuestView::new(&memory, &model.format(), GuestAddress(w.root)).read(gva, &mut buf).map(|()| buf);
                    let expected = reference::read_virtual(&model, &w.memory, w.root, gva, len);
                    prop_assert!(same(&real, &expected), "real {real:?}, model {expected:?}");
                    // At most one walk (4 entries) and one copy (2 regions) per page touched.
                    prop_assert!(memory.take_lookups().len() <= (len / PAGE as usize + 2) * 6);
                }

                #[test]
                fn read_c_string_agrees_with_a_byte_by_byte_read((w, gva) in world::<$model>(), max_len in 0usize..5000) {
                    let model = model(w.physical_bits);
                    let memory = w.memory.to_memory();
                    let real = GuestView::new(&memory, &model.format(), GuestAddress(w.root)).read_c_string(gva, max_len);
                    let expected = reference::read_c_string(&model, &w.memory, w.root, gva, max_len);
                    prop_assert!(same(&real, &expected), "real {real:?}, model {expected:?}");
                    prop_assert!(memory.take_lookups().len() <= (max_len / PAGE as usize + 2) * 6);
                }

                #[test]
                fn decode_agrees_with_the_model_on_arbitrary_tables((w, gva) in world::<$model>()) {
                    let model = model(w.physical_bits);
                    let memory = w.memory.to_memory();
                    let real = decode(&GuestView::new(&memory, &model.format(), GuestAddress(w.root)), gva);
                    let expected = reference::decode(&model, &w.memory, w.root, gva);
                    prop_assert!(same(&real, &expected), "real {real:?}, model {expected:?}");
                }

                #[test]
                fn read_record_is_decode_s_first_step((w, gva) in world::<$model>()) {
                    let model = model(w.physical_bits);
                    let memory = w.memory.to_memory();
                    let real = read_record(&GuestView::new(&memory, &model.format(), GuestAddress(w.root)), gva)
                        .map(|r| zerocopy::IntoBytes::as_bytes(&r).to_vec());
                    let expected = reference::read_virtual(&model, &w.memory, w.root, gva, 56);
                    prop_assert!(same(&real, &expected), "real {real:?}, model {expected:?}");
                }
            }
        }
    };
}

walker_properties!(x86_64, X86_64Model, |physical_bits| X86_64Model {
    physical_bits
});
walker_properties!(aarch64, Aarch64Model, |physical_bits| Aarch64Model {
    physical_bits
});
walker_properties!(riscv64_sv48, Sv48Model, |physical_bits| Sv48Model {
    physical_bits
});
walker_properties!(riscv64_sv39, Sv39Model, |physical_bits| Sv39Model {
    physical_bits
});

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn decode_of_records_and_strings_in_mapped_memory_agrees_with_the_model((w, gva) in identity_world()) {
        let model = X86_64Model { physical_bits: w.physical_bits };
        let memory = w.memory.to_memory();
        let real = decode(&GuestView::new(&memory, &model.format(), GuestAddress(w.root)), gva);
        let expected = reference::decode(&model, &w.memory, w.root, gva);
        prop_assert!(same(&real, &expected), "real {real:?}, model {expected:?}");
        if let Ok(ucall_host::Ucall::Printf(text)) = &real {
            prop_assert!(text.len() < ucall_abi::STRING_MAX_LEN && !text.contains('\0'));
        }
    }

    #[test]
    fn record_address_takes_only_well_formed_ucall_exits(
        exit in exit(),
        mmio in prop::option::of(prop_oneof![Just(0x2800_0000_0000u64), any::<u64>()]),
        pio in prop::option::of(prop_oneof![Just(0x1000u16), any::<u16>()]),
        register in any::<u64>(),
    ) {
        let transport = Transport { mmio_gpa: mmio, pio_port: pio, sbi_extension: None };
        let (kind, gpa, data, port, size) = &exit;
        let exit = match kind {
            0 => Exit::mmio_write(*gpa, data),
            1 => Exit::MmioRead { gpa: *gpa, len: *size },
            2 => Exit::PioIn { port: *port, size: *size },
            _ => Exit::PioOut { port: *port, size: *size },
        };
        let mut asked = false;
        let real = transport.record_address(&exit, || { asked = true; register });
        let expected = match exit {
            Exit::MmioWrite { gpa, .. } if Some(gpa) == mmio => match <[u8; 8]>::try_from(data.as_slice()) {
                Ok(bytes) => Ok(Some(u64::from_le_bytes(bytes))),
                Err(_) => Err(ucall_host::decode::Error::BadMmioAccess { gpa, len: data.len(), is_write: true }),
            },
            Exit::MmioRead { gpa, len } if Some(gpa) == mmio => Err(ucall_host::decode::Error::BadMmioAccess { gpa, len, is_write: false }),
            Exit::PioIn { port, size } if Some(port) == pio => if size == 1 {
                Ok(Some(register))
            } else {
                Err(ucall_host::decode::Error::BadPioAccess { port, size, is_in: true })
            },
            Exit::PioOut { port, size } if Some(port) == pio => Err(ucall_host::decode::Error::BadPioAccess { port, size, is_in: false }),
            _ => Ok(None),
        };
        prop_assert!(same(&real, &expected), "real {real:?}, model {expected:?}");
        // The register is read only for a port I/O ucall.
        prop_assert_eq!(asked, matches!(exit, Exit::PioIn { port, size: 1 } if Some(port) == pio));
    }
}

/// An exit's parts: kind, address, data, port and size (some near the ucall ones).
fn exit() -> impl Strategy<Value = (u8, u64, Vec<u8>, u16, usize)> {
    (
        0u8..4,
        prop_oneof![Just(0x2800_0000_0000u64), any::<u64>()],
        prop::collection::vec(any::<u8>(), 0..16),
        prop_oneof![Just(0x1000u16), any::<u16>()],
        prop_oneof![1usize..=8, any::<usize>()],
    )
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn fuzz_walk_check_holds_for_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        reference::fuzz::walk(&data);
    }

    #[test]
    fn fuzz_decode_check_holds_for_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        reference::fuzz::decode(&data);
    }

    #[test]
    fn fuzz_walk_check_holds_for_arbitrary_bytes_on_aarch64(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        reference::fuzz::walk_aarch64(&data);
    }

    #[test]
    fn fuzz_decode_check_holds_for_arbitrary_bytes_on_aarch64(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        reference::fuzz::decode_aarch64(&data);
    }

    #[test]
    fn fuzz_walk_check_holds_for_arbitrary_bytes_on_riscv64(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        reference::fuzz::walk_riscv64(&data);
    }
}

/// The ELF loader (feature `vm`) against arbitrary bytes: never a panic, never work beyond
/// the bound.
mod loader {
    use super::*;

    proptest! {
        #[test]
        fn fuzz_load_elf_check_holds_for_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
            reference::loader::load_elf(&data);
        }
    }
}

/// The fuzz targets' seed corpus (`fuzz/seeds/<target>/`), replayed: the checks hold for every
/// seed (and for any input a fuzzing run found and someone added there).
#[test]
fn fuzz_seed_corpus_passes_the_fuzz_checks() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let mut replayed = 0;
    // The seeds' tables are x86_64's, whose present-and-writable entries (0b11) are aarch64
    // table descriptors too: the aarch64 checks walk them as deep. `walk_aarch64` has seeds of
    // its own, in aarch64 descriptors (pages, blocks, malformed encodings, TTBR0 ASID bits).
    // For RISC-V those entries (V and R) are leaves at the root; `walk_riscv64` has Sv48 and
    // Sv39 seeds of its own.
    let mut targets = vec![
        ("walk", reference::fuzz::walk as fn(&[u8])),
        ("decode", reference::fuzz::decode),
        ("walk", reference::fuzz::walk_aarch64),
        ("decode", reference::fuzz::decode_aarch64),
        ("walk_aarch64", reference::fuzz::walk_aarch64),
        ("walk", reference::fuzz::walk_riscv64),
        ("walk_riscv64", reference::fuzz::walk_riscv64),
    ];
    targets.push(("load_elf", reference::loader::load_elf));
    for (target, check) in targets {
        let dir = seeds.join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("seed").path();
            check(&std::fs::read(&path).expect("seed file"));
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no seeds in {}", seeds.display());
}
