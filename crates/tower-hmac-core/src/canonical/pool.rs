//! A small per-thread pool of canonical-string buffers (issue 16: no allocation on the accept
//! path). What they hold is the request's own text (method, target, signed header values, time,
//! nonce, key id), never key material; they are cleared, not wiped — as a freed buffer was not.

use std::cell::RefCell;

/// Buffers kept per thread: as many canonical requests as one thread has in flight at once,
/// beyond which they are freed.
const KEEP: usize = 64;
/// A buffer grown past this (a request with many or long signed headers) is freed.
const MAX_CAPACITY: usize = 4096;
const INITIAL_CAPACITY: usize = 256;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

pub(super) fn take() -> Vec<u8> {
    FREE.try_with(|free| free.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(INITIAL_CAPACITY))
}

pub(super) fn give(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > MAX_CAPACITY {
        return;
    }
    buffer.clear();
    // During thread teardown the pool may be gone: the buffer is then simply freed.
    let _ = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < KEEP {
            free.push(buffer);
        }
    });
}
