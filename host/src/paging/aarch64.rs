//! aarch64 page tables (4 KiB granule, 48-bit VA, 4 levels): not yet implemented.
