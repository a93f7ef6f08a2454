//! Serializing fields whose types have no `Serialize`: errors of other crates (`kvm-ioctls`,
//! `vm-memory`, `goblin`, std's I/O) as their message, which is what a log wants of them, and
//! guest addresses as their number.

/// For `#[serde(serialize_with = "crate::serde_display::message")]`: the value's `Display`.
pub(crate) fn message<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// For `#[serde(serialize_with = "crate::serde_display::address")]`: a guest address as its
/// number.
pub(crate) fn address<S: serde::Serializer>(
    address: &vm_memory::GuestAddress,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(address.0)
}
