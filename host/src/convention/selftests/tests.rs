use super::*;
use crate::memory::HeapMemory;
use crate::paging::{MemoryKind, PageTables, x86_64::X86_64};

const POOL: u64 = 0x10_0000;
const HOST_AREA: Range<u64> = 0x1000..0x2000;

struct Guest {
    memory: HeapMemory,
    tables: PageTables<X86_64>,
    pool: Pool,
}

impl Guest {
    fn new(layout: UnhandledLayout) -> Self {
        let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x40_0000)]).unwrap();
        let mut tables =
            PageTables::new(&memory, X86_64::new(46), GuestAddress(0x8000), 0x8000).unwrap();
        tables
            .identity_map(&memory, 0..0x40_0000, MemoryKind::Normal)
            .unwrap();
        let pool = Pool::new(POOL, vec![HOST_AREA], layout);
        pool.install(&memory).unwrap();
        Guest {
            memory,
            tables,
            pool,
        }
    }

    /// Fills record `index` as a guest would and returns its token.
    fn fill(&self, index: usize, cmd: u64, args: &[u64], text: &[u8]) -> u64 {
        let at = POOL + record_offset(index) as u64;
        let mut record = Record::new_zeroed();
        self.memory
            .read_slice(record.as_mut_bytes(), GuestAddress(at))
            .unwrap();
        record.cmd = cmd;
        record.args[..args.len()].copy_from_slice(args);
        record.buffer[..text.len()].copy_from_slice(text);
        self.memory
            .write_slice(record.as_bytes(), GuestAddress(at))
            .unwrap();
        record.token
    }

    fn decode(&self, token: u64) -> Result<Option<Ucall>, Error> {
        self.pool.decode(&self.tables.view(&self.memory), token)
    }
}

#[test]
fn each_records_token_is_its_own_address() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    for index in [0, 1, RECORDS - 1] {
        let record = POOL + record_offset(index) as u64;
        let token = guest.fill(index, 0, &[], b"");
        assert_eq!(token, record);
        assert_eq!(
            guest.pool.find(token).unwrap(),
            Found::Record { gpa: record }
        );
    }
}

#[test]
fn all_ones_is_no_pool() {
    let err = Guest::new(UnhandledLayout::X86_64)
        .decode(FAILED)
        .unwrap_err();
    assert!(matches!(err, Error::NoPool), "{err}");
}

#[test]
fn token_zero_and_command_none_are_resumed_without_a_ucall() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    assert_eq!(guest.decode(NO_RECORD).unwrap(), None);
    let token = guest.fill(3, Command::None as u64, &[], b"");
    assert_eq!(guest.decode(token).unwrap(), None);
}

#[test]
fn a_token_inside_the_pool_that_is_no_records_is_forged() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    for token in [POOL, POOL + record_offset(0) as u64 + 8] {
        let err = guest.decode(token).unwrap_err();
        assert!(
            matches!(err, Error::ForgedToken { token: t, pool_start: POOL, .. } if t == token),
            "{err}"
        );
    }
}

#[test]
fn a_token_outside_the_pool_is_refused() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    let end = POOL + POOL_SIZE as u64;
    for token in [POOL - 8, end, 0x7fff_ffff_ffff] {
        let err = guest.decode(token).unwrap_err();
        assert!(
            matches!(err, Error::TokenOutsidePool { token: t, pool_end, .. } if t == token && pool_end == end),
            "{err}"
        );
    }
}

#[test]
fn printf_is_3_and_done_is_4() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    let printf = guest.fill(0, 3, &[], b"two\nlines\n\0");
    let done = guest.fill(1, 4, &[], b"");
    assert_eq!(
        guest.decode(printf).unwrap(),
        Some(Ucall::Printf("two\nlines\n".into()))
    );
    assert_eq!(guest.decode(done).unwrap(), Some(Ucall::Done));
}

#[test]
fn a_buffer_without_nul_is_read_to_its_end_and_no_further() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    let token = guest.fill(0, 3, &[], &[b'x'; BUFFER_LEN]);
    let Some(Ucall::Printf(text)) = guest.decode(token).unwrap() else {
        panic!("a PRINTF");
    };
    assert_eq!(text, "x".repeat(BUFFER_LEN));
}

#[test]
fn sync_keeps_its_first_six_arguments() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    let token = guest.fill(0, 1, &[0x40_2000, 7, 1, 2, 3, 4, 5], b"");
    let args = [0x40_2000, 7, 1, 2, 3, 4];
    assert_eq!(guest.decode(token).unwrap(), Some(Ucall::Sync { args }));
}

#[test]
fn abort_is_the_buffers_message_at_file_and_line() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    guest
        .memory
        .write_slice(b"guest.c\0", GuestAddress(0x30_0000))
        .unwrap();
    let token = guest.fill(
        0,
        2,
        &[0x30_1000, 0x30_0000, 42],
        b"0x29 != 0x2a (a != b)\0",
    );
    let expected = Abort {
        message: "0x29 != 0x2a (a != b)".into(),
        file: Some("guest.c".into()),
        line: 42,
        column: None,
    };
    assert_eq!(guest.decode(token).unwrap(), Some(Ucall::Abort(expected)));
}

#[test]
fn an_unknown_command_names_its_number_and_record() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    let token = guest.fill(2, 6, &[], b"");
    let err = guest.decode(token).unwrap_err();
    assert!(
        matches!(err, Error::UnknownCommand { cmd: 6, record } if record == token),
        "{err}"
    );
}

#[test]
fn aarch64_unhandled_puts_the_class_where_esr_has_it() {
    let guest = Guest::new(UnhandledLayout::Aarch64);
    let token = guest.fill(0, 5, &[4, 0x3c, 1], b"");
    let Some(Ucall::Unhandled(unhandled)) = guest.decode(token).unwrap() else {
        panic!("an UNHANDLED");
    };
    assert_eq!((unhandled.vector, unhandled.error_code), (4, 0x3c << 26));
}

#[test]
fn riscv64_unhandled_is_scause() {
    let guest = Guest::new(UnhandledLayout::Riscv64);
    let token = guest.fill(0, 5, &[0, 2], b"");
    let Some(Ucall::Unhandled(unhandled)) = guest.decode(token).unwrap() else {
        panic!("an UNHANDLED");
    };
    assert_eq!(unhandled.vector, 2);
}

#[test]
fn a_record_in_the_host_area_is_the_hosts_own_report_in_the_seed_layout() {
    let guest = Guest::new(UnhandledLayout::X86_64);
    let report = ucall_abi::Record::new(ucall_abi::Command::Unhandled, &[6, 0x40_1000]);
    guest
        .memory
        .write_slice(report.as_bytes(), GuestAddress(0x1800))
        .unwrap();
    let Some(Ucall::Unhandled(unhandled)) = guest.decode(0x1800).unwrap() else {
        panic!("an UNHANDLED");
    };
    assert_eq!(
        (unhandled.vector, unhandled.instruction_address),
        (6, 0x40_1000)
    );
}

#[test]
fn riscv64_trap_without_a_record_is_an_unexpected_trap() {
    let exit = Exit::Sbi {
        extension: SBI_EXTENSION,
        function: 1,
        args: [0; 6],
    };
    let err = Pool::check_exit(&exit).unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedTrap { function: 1 }),
        "{err}"
    );
}
