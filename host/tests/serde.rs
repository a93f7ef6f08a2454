//! With the `serde` feature, ucalls and errors serialize for structured logs: ucalls and exits
//! round-trip, errors keep their typed fields, and a source error of another crate is its
//! message.
#![cfg(feature = "serde")]

use serde_json::json;
use ucall_host::decode::{self, Exit};
use ucall_host::memory::HeapMemory;
use ucall_host::paging::{self, PageTables, x86_64::X86_64};
use ucall_host::{Abort, Error, Ucall};
use vm_memory::GuestAddress;

#[test]
fn an_abort_round_trips_through_json() {
    let ucall = Ucall::Abort(Abort {
        message: "x == 1".into(),
        file: Some("src/main.rs".into()),
        line: 7,
        column: None,
    });
    let value = serde_json::to_value(&ucall).unwrap();
    assert_eq!(
        value,
        json!({ "Abort": { "message": "x == 1", "file": "src/main.rs", "line": 7, "column": null } })
    );
    assert_eq!(serde_json::from_value::<Ucall>(value).unwrap(), ucall);
}

#[test]
fn an_exit_round_trips_through_json() {
    let exit = Exit::PioIn {
        port: 0x1000,
        size: 1,
    };
    let value = serde_json::to_value(exit).unwrap();
    assert_eq!(value, json!({ "PioIn": { "port": 4096, "size": 1 } }));
    assert_eq!(serde_json::from_value::<Exit>(value).unwrap(), exit);
}

#[test]
fn a_decode_error_keeps_its_typed_fields() {
    let err = Error::from(decode::Error::UnknownCommand {
        cmd: 77,
        record_gva: 0x1_0000,
    });
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({ "Decode": { "UnknownCommand": { "cmd": 77, "record_gva": 0x1_0000 } } })
    );
}

#[test]
fn a_source_error_of_another_crate_is_its_message() {
    // Page tables that need more memory than there is: vm-memory's error is the source.
    let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap();
    let err = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x2000), 0x1000).unwrap_err();
    let paging::Error::TableWrite {
        gpa: 0x2000,
        source,
    } = &err
    else {
        panic!("expected TableWrite at 0x2000, got {err:?}");
    };
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({ "TableWrite": { "gpa": 0x2000, "source": source.to_string() } })
    );
}

#[test]
fn a_guest_address_is_its_number() {
    let err = ucall_host::log_ring::Error::BadMagic {
        ring: GuestAddress(0x100),
        magic: 7,
    };
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({ "BadMagic": { "ring": 0x100, "magic": 7 } })
    );
}
