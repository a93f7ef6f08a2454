//! aarch64 guests (EL1, 4 KiB granule, 48-bit VA): not yet implemented.

compile_error!("the aarch64 host side is not implemented yet");
