//! The checks behind the fuzz targets (`fuzz/fuzz_targets/`), kept here so that the property
//! tests compile them and replay the seed corpus with every `cargo xtask test`. Each takes raw
//! bytes, runs the real code on the memory and addresses they describe, and panics if it
//! disagrees with the reference model.

use super::riscv64::{Sv39Model, Sv48Model};
use super::{Aarch64Model, Model, Snapshot, Watched, X86_64Model, same};
use std::cell::RefCell;
use ucall_host::decode::{self, Exit, Transport};
use ucall_host::paging::{GuestView, PageTableFormat};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const PAGE: usize = 0x1000;
/// Guest memory of every fuzz input: 8 pages at 0 and 2 pages after a 2-page gap.
const LAYOUT: [(u64, usize); 2] = [(0, 8 * PAGE), (10 * PAGE as u64, 2 * PAGE)];
/// Bytes before the memory contents: root, address, physical width, two lengths, exit data.
const HEADER: usize = 8 + 8 + 1 + 2 + 2 + 16;
/// Where the physical width is in the header.
const PHYSICAL_BITS_AT: usize = 16;

/// What a fuzz input describes.
struct Input {
    root: u64,
    gva: u64,
    physical_bits: u8,
    len: usize,
    max_len: usize,
    exit: [u8; 16],
    memory: Snapshot,
}

fn parse(data: &[u8]) -> Input {
    let mut header = [0u8; HEADER];
    let n = data.len().min(HEADER);
    header[..n].copy_from_slice(&data[..n]);
    let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| usize::from(u16::from_le_bytes([header[at], header[at + 1]]));
    let mut rest = data.get(HEADER..).unwrap_or_default();
    let regions = LAYOUT
        .iter()
        .map(|&(start, size)| {
            let mut bytes = vec![0u8; size];
            let n = rest.len().min(size);
            bytes[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            (start, bytes)
        })
        .collect();
    Input {
        root: word(0),
        gva: word(8),
        physical_bits: header[PHYSICAL_BITS_AT],
        len: half(17) % 300,
        max_len: half(19) % 1100,
        exit: header[21..37].try_into().expect("16 bytes"),
        memory: Snapshot { regions },
    }
}

thread_local! {
    /// One guest memory per thread, refilled for every input: an mmap per input would cost
    /// more than the checks.
    static MEMORY: Watched = Watched {
        memory: GuestMemoryMmap::<()>::from_ranges(
            &LAYOUT.map(|(start, size)| (GuestAddress(start), size)),
        )
        .expect("fuzz memory"),
        lookups: RefCell::new(Vec::new()),
    };
}

fn with_memory(input: &Input, check: impl FnOnce(&Watched)) {
    MEMORY.with(|memory| {
        for (start, bytes) in &input.memory.regions {
            memory
                .memory
                .write_slice(bytes, GuestAddress(*start))
                .expect("fill fuzz memory");
        }
        memory.take_lookups();
        check(memory);
    });
}

/// [`walk_with`] the x86_64 model.
pub fn walk(data: &[u8]) {
    walk_with(|physical_bits| X86_64Model { physical_bits }, data);
}

/// [`decode_with`] the x86_64 model.
pub fn decode(data: &[u8]) {
    decode_with(|physical_bits| X86_64Model { physical_bits }, data);
}

/// [`walk_with`] the aarch64 model.
pub fn walk_aarch64(data: &[u8]) {
    walk_with(|physical_bits| Aarch64Model { physical_bits }, data);
}

/// [`decode_with`] the aarch64 model.
pub fn decode_aarch64(data: &[u8]) {
    decode_with(|physical_bits| Aarch64Model { physical_bits }, data);
}

/// [`walk_with`] the RISC-V models: Sv39 if the physical width's top bit is set (the width is
/// the other seven bits), else Sv48.
pub fn walk_riscv64(data: &[u8]) {
    let sv39 = data.get(PHYSICAL_BITS_AT).is_some_and(|b| b & 0x80 != 0);
    if sv39 {
        walk_with(
            |b| Sv39Model {
                physical_bits: b & 0x7f,
            },
            data,
        );
    } else {
        walk_with(
            |b| Sv48Model {
                physical_bits: b & 0x7f,
            },
            data,
        );
    }
}

/// Walks, reads and strings through arbitrary tables agree with the model that `model` makes
/// from a physical address width; the walk looks up exactly the entries the model reads.
pub fn walk_with<M: Model>(model: impl Fn(u8) -> M, data: &[u8]) {
    let input = parse(data);
    let model = model(input.physical_bits);
    let format = model.format();
    let root = GuestAddress(input.root);
    with_memory(&input, |memory| {
        let real = format.translate(memory, root, input.gva);
        let lookups = memory.take_lookups();
        let (expected, reads) = model.translate(&input.memory, input.root, input.gva);
        assert!(
            same(&real, &expected),
            "translate: {real:?} != {expected:?}"
        );
        assert_eq!(lookups, reads, "translate looked up other entries");

        let guest = GuestView::new(memory, &format, root);
        let mut buf = vec![0u8; input.len];
        let real = guest.read(input.gva, &mut buf).map(|()| buf);
        let expected = super::read_virtual(&model, &input.memory, input.root, input.gva, input.len);
        assert!(
            same(&real, &expected),
            "read_virtual: {real:?} != {expected:?}"
        );

        let real = guest.read_c_string(input.gva, input.max_len);
        let expected =
            super::read_c_string(&model, &input.memory, input.root, input.gva, input.max_len);
        assert!(
            same(&real, &expected),
            "read_c_string: {real:?} != {expected:?}"
        );
    });
}

/// Decoding through the tables of `model`'s format agrees with the model, and so does telling
/// ucall exits from others.
pub fn decode_with<M: Model>(model: impl Fn(u8) -> M, data: &[u8]) {
    let input = parse(data);
    let model = model(input.physical_bits);
    with_memory(&input, |memory| {
        let format = model.format();
        let real = decode::decode(
            &GuestView::new(memory, &format, GuestAddress(input.root)),
            input.gva,
        );
        let expected = super::decode(&model, &input.memory, input.root, input.gva);
        assert!(same(&real, &expected), "decode: {real:?} != {expected:?}");
    });
    record_address(&input.exit, input.gva);
}

/// The exit the 16 bytes describe, checked against what makes a ucall.
fn record_address(exit: &[u8; 16], register: u64) {
    const MMIO: u64 = 0x2800_0000_0000;
    let gpa = if exit[1] & 1 == 0 {
        MMIO
    } else {
        u64::from_le_bytes(exit[8..16].try_into().expect("8 bytes"))
    };
    let port = if exit[1] & 2 == 0 {
        ucall_abi::PIO_PORT
    } else {
        u16::from_le_bytes([exit[2], exit[3]])
    };
    let size = usize::from(exit[4]);
    let data = &exit[5..5 + size.min(11)];
    let exit = match exit[0] % 4 {
        0 => Exit::mmio_write(gpa, data),
        1 => Exit::MmioRead { gpa, len: size },
        2 => Exit::PioIn { port, size },
        _ => Exit::PioOut { port, size },
    };
    for transport in [Transport::mmio(MMIO), Transport::pio()] {
        let real = transport.record_address(&exit, || register);
        let expected = match exit {
            Exit::MmioWrite { gpa, .. } if Some(gpa) == transport.mmio_gpa => {
                match <[u8; 8]>::try_from(data) {
                    Ok(bytes) => Ok(Some(u64::from_le_bytes(bytes))),
                    Err(_) => Err(decode::Error::BadMmioAccess {
                        gpa,
                        len: data.len(),
                        is_write: true,
                    }),
                }
            }
            Exit::MmioRead { gpa, len } if Some(gpa) == transport.mmio_gpa => {
                Err(decode::Error::BadMmioAccess {
                    gpa,
                    len,
                    is_write: false,
                })
            }
            Exit::PioIn { port, size: 1 } if Some(port) == transport.pio_port => Ok(Some(register)),
            Exit::PioIn { port, size } if Some(port) == transport.pio_port => {
                Err(decode::Error::BadPioAccess {
                    port,
                    size,
                    is_in: true,
                })
            }
            Exit::PioOut { port, size } if Some(port) == transport.pio_port => {
                Err(decode::Error::BadPioAccess {
                    port,
                    size,
                    is_in: false,
                })
            }
            _ => Ok(None),
        };
        assert!(
            same(&real, &expected),
            "record_address: {real:?} != {expected:?}"
        );
    }
}
