//! Serializing fields whose types have no `Serialize`: errors of other crates (`kvm-ioctls`,
//! `vm-memory`, `goblin`, std's I/O) as their message, which is what a log wants of them, and
//! guest addresses as their number. Each is a module for `#[serde(with = "…")]`, so that a field
//! names its way in one short attribute.

/// For `#[serde(with = "crate::serde_display::message")]`: the value's `Display`.
pub(crate) mod message {
    /// Serializes `value` as the string its `Display` writes.
    pub(crate) fn serialize<T: std::fmt::Display, S: serde::Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }
}

/// For `#[serde(with = "crate::serde_display::address")]`: a guest address as its number.
pub(crate) mod address {
    /// Serializes `address` as its number.
    pub(crate) fn serialize<S: serde::Serializer>(
        address: &vm_memory::GuestAddress,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(address.0)
    }
}
