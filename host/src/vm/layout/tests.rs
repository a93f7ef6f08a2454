//! The planner: RAM follows the image, the host's structures go where no segment is.

// An image is a list of segment ranges, often of one.
#![allow(clippy::single_range_in_vec_init)]

use super::*;
use crate::vm::GuestImage;
use crate::vm::elf::test_elf::{TestElf, TestSegment};
use goblin::elf::header::EM_X86_64;

const MIB: u64 = 1 << 20;
const MEMORY: u64 = 32 * MIB;
const STACKS: u64 = 64 << 10;

fn request() -> LayoutRequest {
    LayoutRequest {
        memory_size: MEMORY,
        stack_bytes: STACKS,
        host_area: 0x2000,
        host_area_name: "GDT and TSS",
        ram_limit: 1 << 40,
    }
}

fn plan(image: &[Range<u64>]) -> Result<Layout, LayoutError> {
    Layout::plan(image, &request())
}

#[test]
fn image_linked_at_2_mib_gets_ram_from_0_and_the_host_area_below_it() {
    let layout = plan(&[0x20_0000..0x20_8000]).unwrap();
    assert_eq!(layout.ram, 0..MEMORY);
    assert_eq!(layout.host_area, 0x1000..0x3000);
    assert_eq!(layout.tables, 0x3000..0x3000 + table_space(MEMORY));
    assert_eq!(layout.stacks, MEMORY - STACKS..MEMORY);
}

#[test]
fn image_linked_where_gcc_links_gets_ram_from_0() {
    let layout = plan(&[0x40_0000..0x40_1000, 0x40_2000..0x40_3000]).unwrap();
    assert_eq!(layout.ram, 0..MEMORY);
    assert_eq!(layout.host_area.start, 0x1000);
}

#[test]
fn image_linked_at_1_gib_and_2_mib_gets_ram_from_1_gib() {
    let layout = plan(&[0x4020_0000..0x4021_0000]).unwrap();
    assert_eq!(layout.ram, 0x4000_0000..0x4000_0000 + MEMORY);
    assert_eq!(layout.host_area.start, 0x4000_1000);
}

#[test]
fn image_far_above_a_gib_boundary_gets_ram_from_the_2_mib_boundary_below_it() {
    // riscv64's gcc links at 0x10000; an image at 0x1234_5000 is 291 MiB into its GiB.
    let layout = plan(&[0x1234_5000..0x1235_0000]).unwrap();
    assert_eq!(layout.ram, 0x1220_0000..0x1220_0000 + MEMORY);
    assert_eq!(layout.host_area.start, 0x1220_1000);
}

#[test]
fn host_area_goes_after_the_image_when_it_starts_at_ram() {
    let layout = plan(&[0x1000_0000..0x1000_5800]).unwrap();
    assert_eq!(layout.ram.start, 0x1000_0000);
    assert_eq!(layout.host_area.start, 0x1000_6000);
}

#[test]
fn host_area_skips_a_gap_too_small_for_it() {
    // One free page between the segments: too small for the host area and tables.
    let layout = plan(&[0x1000_0000..0x1000_1000, 0x1000_2000..0x1000_3000]).unwrap();
    assert_eq!(layout.host_area.start, 0x1000_3000);
}

#[test]
fn host_regions_never_overlap_a_segment() {
    for image in [
        vec![0x1000..0x20_0000],
        vec![0x20_0000..0x40_0000, 0x60_0000..0x80_0000],
        vec![0x4000_1000..0x4000_2000, 0x4000_4000..0x4002_0000],
    ] {
        let layout = plan(&image).unwrap();
        for (_, host) in layout.host_regions() {
            for segment in &image {
                assert!(host.end <= segment.start || segment.end <= host.start);
            }
        }
    }
}

#[test]
fn image_reaching_into_the_stacks_does_not_fit() {
    // From 0 it overlaps the stacks; from 2 MiB (where it starts) too.
    let image = [0x20_0000..0x20_0000 + MEMORY - 0x1000];
    assert_eq!(
        plan(&image),
        Err(LayoutError::DoesNotFit {
            image_start: 0x20_0000,
            image_end: 0x20_0000 + MEMORY - 0x1000,
            host_bytes: 0x2000 + table_space(MEMORY),
            stack_bytes: STACKS,
            memory_size: MEMORY,
            ram_start: 0x20_0000,
        })
    );
}

#[test]
fn image_spread_wider_than_the_memory_does_not_fit() {
    let image = [0x20_0000..0x20_1000, 0x7000_0000..0x7000_1000];
    assert!(matches!(
        plan(&image),
        Err(LayoutError::DoesNotFit {
            image_end: 0x7000_1000,
            ..
        })
    ));
}

#[test]
fn ram_beyond_the_physical_address_width_is_refused() {
    let request = LayoutRequest {
        ram_limit: 1 << 32,
        ..request()
    };
    let err = Layout::plan(&[0xffff_0000..0xffff_1000], &request).unwrap_err();
    assert_eq!(
        err,
        LayoutError::BeyondPhysicalAddresses {
            ram_start: 0xffe0_0000,
            ram_end: 0xffe0_0000 + MEMORY,
            limit: 1 << 32,
        }
    );
}

/// A VMM with its own fixed layout, GDT and TSS at 0x1000..0x3000 as in the foreign VMM.
fn foreign_layout() -> Layout {
    Layout {
        ram: 0..MEMORY,
        host_area: 0x1000..0x3000,
        host_area_name: "GDT and TSS",
        tables: 0x1_0000..0x10_0000,
        stacks: MEMORY - STACKS..MEMORY,
    }
}

#[test]
fn segment_on_the_gdt_of_a_fixed_layout_is_refused_naming_it() {
    let layout = foreign_layout();
    let elf = TestElf::new(0x20_0000, 0x1000)
        .segment(TestSegment::data(0x2000, 0x1000))
        .build();
    let image = GuestImage::parse(&elf, EM_X86_64).unwrap();
    let err = layout.check(image.segments()).unwrap_err();
    assert!(
        matches!(
            err,
            crate::vm::LoadError::OverlapsHost {
                segment: 1,
                start: 0x2000,
                end: 0x3000,
                region: HostRegion::Arch("GDT and TSS"),
                region_start: 0x1000,
                region_end: 0x3000,
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "guest ELF: segment 1: 0x2000..0x3000 overlaps the host's GDT and TSS at 0x1000..0x3000"
    );
}

#[test]
fn segment_on_the_page_tables_of_a_fixed_layout_is_refused_naming_them() {
    let layout = foreign_layout();
    let elf = TestElf::new(0x8_0000, 0x10_0000).build();
    let image = GuestImage::parse(&elf, EM_X86_64).unwrap();
    assert!(matches!(
        layout.check(image.segments()),
        Err(crate::vm::LoadError::OverlapsHost {
            segment: 0,
            region: HostRegion::PageTables,
            ..
        })
    ));
}
