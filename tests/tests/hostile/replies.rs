//! Hostile guests: replies to records the guest may not write. The host reads the call, refuses
//! the reply with the entry that forbids it, writes nothing, and the neighbours carry on.

use super::*;
use vm_memory::{Bytes, GuestAddress};

/// The call vCPU 0 makes, the error its reply gets, and the guest.
fn refused_reply(case: Case, transport: TransportKind) -> (RunError, Hostile) {
    let mut guest = Hostile::start(case, transport);
    let call = guest.vcpu.next_ucall().expect("the call");
    assert_eq!(
        call,
        Ucall::Call {
            number: CALL,
            args: [1, 2, 3, 4, 5, 6]
        },
        "{case:?} over {transport:?}"
    );
    let error = guest
        .vcpu
        .reply([0xbad; 6])
        .expect_err("the reply is refused");
    guest.neighbours_finish_normally();
    (error, guest)
}

/// The record's six arguments as guest memory holds them at `gpa`.
fn args_at(guest: &Hostile, gpa: u64) -> [u64; 6] {
    std::array::from_fn(|i| {
        guest
            .vm
            .memory()
            .read_obj(GuestAddress(gpa + 8 + 8 * i as u64))
            .expect("record in memory")
    })
}

#[test]
fn reply_to_a_record_on_a_read_only_page_is_not_writable_at_the_page_entry() {
    each_transport(|t| {
        let (err, guest) = refused_reply(Case::CallWithAReadOnlyRecord, t);
        let record = guest.symbol("HOSTILE_RECORD");
        let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
        let entry = descriptor::entry(record, descriptor::PAGE_READ_ONLY);
        assert!(
            matches!(err, RunError::Reply { vcpu: 0, record_gva: SLOT_BASE, source: paging::Error::NotWritable { gva, level: 1, entry_gpa, entry: e } } if gva == SLOT_BASE + 8 && entry_gpa == last_table && e == entry),
            "{err:?}"
        );
        assert_eq!(args_at(&guest, record), [1, 2, 3, 4, 5, 6]);
    });
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn reply_below_a_read_only_root_entry_is_not_writable_at_the_root() {
    each_transport(|t| {
        let (err, guest) = refused_reply(Case::CallUnderAReadOnlyTable, t);
        let slot = guest.root() + ROOT_SLOT * 8;
        let entry = descriptor::entry(guest.symbol("HOSTILE_TABLES"), descriptor::TABLE_READ_ONLY);
        assert!(
            matches!(err, RunError::Reply { vcpu: 0, source: paging::Error::NotWritable { level: 4, entry_gpa, entry: e, .. }, .. } if entry_gpa == slot && e == entry),
            "{err:?}"
        );
        assert_eq!(
            args_at(&guest, guest.symbol("HOSTILE_RECORD")),
            [1, 2, 3, 4, 5, 6]
        );
    });
}

#[test]
fn reply_straddling_onto_a_read_only_page_writes_neither_page() {
    each_transport(|t| {
        let (err, guest) = refused_reply(Case::CallStraddlingOntoAReadOnlyPage, t);
        let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
        assert!(
            matches!(err, RunError::Reply { vcpu: 0, source: paging::Error::NotWritable { gva, level: 1, entry_gpa, .. }, .. } if gva == SLOT_BASE + 0x1000 && entry_gpa == last_table + 8),
            "{err:?}"
        );
        // The first word of the reply would have gone to the writable page.
        let record = guest.symbol("HOSTILE_TEXT") + 0xff0;
        assert_eq!(args_at(&guest, record), [1, 2, 3, 4, 5, 6]);
    });
}

#[test]
fn reply_after_an_error_that_was_no_ucall_is_refused() {
    let (_, mut guest) = Hostile::error(Case::UnknownCommand, TransportKind::Mmio);
    assert!(matches!(
        guest.vcpu.reply([0; 6]),
        Err(RunError::NothingToAnswer { vcpu: 0 })
    ));
}
