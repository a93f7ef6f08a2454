//! Bounded, NUL-terminated text built on the guest's stack.

use core::fmt::{self, Write};

/// UTF-8 text of at most `N - 1` bytes followed by a NUL, as ucall string arguments are.
///
/// Writing never fails: text that does not fit is cut at the last character boundary that fits.
///
/// ```
/// use ucall_guest::TextBuffer;
///
/// let mut text = TextBuffer::<8>::new();
/// text.write_args(format_args!("{}-{}", "héllo", 42));
/// assert_eq!(text.as_str(), "héllo-"); // 7 bytes: "4" would not fit beside the NUL
/// ```
pub struct TextBuffer<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> TextBuffer<N> {
    /// An empty text.
    pub const fn new() -> Self {
        const { assert!(N >= 1, "a TextBuffer needs room for its NUL") };
        TextBuffer {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Appends as much of `s` as fits.
    pub fn push_str(&mut self, s: &str) {
        let room = N - 1 - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        self.bytes[self.len] = 0;
    }

    /// Appends formatted text, as much as fits.
    pub fn write_args(&mut self, args: fmt::Arguments<'_>) {
        // `write_str` below never fails, so neither does this.
        let _ = self.write_fmt(args);
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // Only whole characters of `&str`s are ever copied in, so this cannot fail.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    /// The address of the NUL-terminated text, for a ucall argument.
    pub fn as_c_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
}

/// The text, not the unused bytes after it.
impl<const N: usize> fmt::Debug for TextBuffer<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextBuffer")
            .field("text", &self.as_str())
            .field("capacity", &N)
            .finish()
    }
}

impl<const N: usize> Default for TextBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for TextBuffer<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TextBuffer;

    #[test]
    fn text_is_nul_terminated() {
        let mut text = TextBuffer::<16>::new();
        text.push_str("abc");
        assert_eq!(&text.bytes[..4], b"abc\0");
    }

    #[test]
    fn long_text_is_cut_to_capacity_minus_nul() {
        let mut text = TextBuffer::<4>::new();
        text.push_str("abcdef");
        assert_eq!(text.as_str(), "abc");
        assert_eq!(text.bytes[3], 0);
    }

    #[test]
    fn cut_never_splits_a_character() {
        let mut text = TextBuffer::<4>::new();
        text.push_str("aé€"); // 1 + 2 + 3 bytes
        assert_eq!(text.as_str(), "aé");
    }

    #[test]
    fn writes_after_a_cut_are_dropped() {
        let mut text = TextBuffer::<4>::new();
        text.write_args(format_args!("{}{}", "abcd", "e"));
        assert_eq!(text.as_str(), "abc");
    }
}
