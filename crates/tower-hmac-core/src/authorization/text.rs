//! The text of a parsed header: inline when it is short, so that parsing allocates nothing.

use arrayvec::ArrayString;

/// The bytes kept without an allocation: a 32-character key id, a 10-digit timestamp, a
/// 43-character nonce (32 random bytes in base64url) and `content-type;host;x-amz-date` take 113.
/// Longer ones (up to 128-character key ids and nonces, 32 signed headers) go to the heap.
pub(super) const INLINE_TEXT: usize = 128;

/// A string inline up to [`INLINE_TEXT`] bytes, on the heap beyond. Unlike a byte vector, it
/// gives its `&str` without checking the bytes again at each access.
#[derive(Clone)]
pub(super) enum Text {
    Inline(ArrayString<INLINE_TEXT>),
    Heap(String),
}

impl Text {
    /// An empty text with room for `capacity` bytes (inline when they fit).
    pub(super) fn with_capacity(capacity: usize) -> Self {
        if capacity <= INLINE_TEXT {
            Self::Inline(ArrayString::new())
        } else {
            Self::Heap(String::with_capacity(capacity))
        }
    }

    /// Appends `s`, moving to the heap when the inline room is exceeded.
    pub(super) fn push_str(&mut self, s: &str) {
        match self {
            Self::Inline(inline) => {
                if inline.try_push_str(s).is_err() {
                    let mut heap = String::with_capacity(inline.len() + s.len());
                    heap.push_str(inline);
                    heap.push_str(s);
                    *self = Self::Heap(heap);
                }
            }
            Self::Heap(heap) => heap.push_str(s),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            Self::Inline(inline) => inline,
            Self::Heap(heap) => heap,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.as_str().len()
    }
}

/// The same text is equal wherever it is kept.
impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inline_up_to_its_room_and_moves_to_the_heap_past_it() {
        let mut text = Text::with_capacity(0);
        text.push_str(&"a".repeat(INLINE_TEXT - 1));
        text.push_str("b");
        assert!(matches!(text, Text::Inline(_)));
        text.push_str("c");
        assert!(matches!(text, Text::Heap(_)));
        assert_eq!(text.len(), INLINE_TEXT + 1);
        assert!(text.as_str().ends_with("abc"));
        assert!(matches!(
            Text::with_capacity(INLINE_TEXT + 1),
            Text::Heap(_)
        ));
    }

    #[test]
    fn equality_is_of_the_text_wherever_it_is_kept() {
        let mut inline = Text::with_capacity(1);
        inline.push_str("x");
        let mut heap = Text::with_capacity(INLINE_TEXT + 1);
        heap.push_str("x");
        assert!(inline == heap);
        heap.push_str("y");
        assert!(inline != heap);
    }
}
