//! Serializing errors of other crates (`kvm-ioctls`, `vm-memory`, `goblin`, std's I/O) that
//! have no `Serialize`: as their message, which is what a log wants of them.

/// For `#[serde(serialize_with = "crate::serde_display::message")]`: the value's `Display`.
pub(crate) fn message<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
