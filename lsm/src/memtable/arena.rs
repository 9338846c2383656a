//! Bump allocation for the memtable's skiplist: 8-byte-aligned blocks carved from large chunks
//! that are freed together when the arena drops.
//!
//! Invariants: a chunk is allocated once, never moved or resized, and freed only by the
//! arena's drop; every block handed out lies inside one chunk; pointers into a chunk all derive
//! from the one raw pointer taken when it was allocated.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// Bytes per ordinary chunk.
const CHUNK_BYTES: usize = 1 << 20;
/// Blocks larger than this get a chunk of their own, so a large value does not waste the
/// rest of the current chunk.
const LARGE_BYTES: usize = CHUNK_BYTES / 4;

/// One chunk: a leaked boxed slice of words, owned by the arena.
struct Chunk {
    ptr: NonNull<MaybeUninit<u64>>,
    words: usize,
}

impl Chunk {
    fn new(words: usize) -> Chunk {
        let boxed: Box<[MaybeUninit<u64>]> = Box::new_uninit_slice(words);
        Chunk {
            ptr: NonNull::from(Box::leak(boxed)).cast(),
            words,
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.words);
        // SAFETY: `ptr` and `words` are exactly the leaked box from `Chunk::new`, reclaimed
        // once, here; the arena owning this chunk is being dropped, so no block in it is used.
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// The arena (see the module docs). Not thread-safe by itself: the skiplist allocates only
/// under its writer lock.
pub(crate) struct Arena {
    /// The chunk being carved and the bytes used in it.
    current: Option<(Chunk, usize)>,
    /// Chunks filled earlier, and chunks of large blocks.
    done: Vec<Chunk>,
    bytes: usize,
}

// SAFETY: the arena owns its chunks outright (the raw pointers are never shared by the arena
// itself); moving it to another thread moves that ownership.
unsafe impl Send for Arena {}

/// Padding that brings `addr` to a multiple of 8.
fn pad8(addr: usize) -> usize {
    addr.wrapping_neg() % 8
}

impl Arena {
    pub(crate) fn new() -> Arena {
        Arena {
            current: None,
            done: Vec::new(),
            bytes: 0,
        }
    }

    /// Bytes of chunks held (what the arena costs in memory).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// An uninitialized block of `bytes` bytes, 8-byte aligned, valid until the arena drops.
    pub(crate) fn alloc(&mut self, bytes: usize) -> NonNull<u8> {
        self.carve(bytes, pad8)
    }

    /// As `alloc`, and a block of at most 64 bytes does not straddle a 64-byte line (a
    /// skiplist node is read by one cache miss).
    pub(crate) fn alloc_node(&mut self, bytes: usize) -> NonNull<u8> {
        self.carve(bytes, |addr| {
            let at = addr + pad8(addr);
            if bytes <= 64 && at % 64 + bytes > 64 {
                at.next_multiple_of(64) - addr
            } else {
                at - addr
            }
        })
    }

    /// An uninitialized block of `bytes` bytes with no alignment (values: packed).
    pub(crate) fn alloc_packed(&mut self, bytes: usize) -> NonNull<u8> {
        self.carve(bytes, |_| 0)
    }

    /// Carves `bytes` from the current chunk after `pad(address)` bytes of padding (at most
    /// 63), starting a chunk when it does not fit; a large block gets a chunk of its own.
    fn carve(&mut self, bytes: usize, pad: impl Fn(usize) -> usize) -> NonNull<u8> {
        if bytes > LARGE_BYTES {
            let chunk = Chunk::new(bytes.div_ceil(8));
            let ptr = chunk.ptr.cast();
            self.bytes += chunk.words * 8;
            self.done.push(chunk);
            return ptr;
        }
        let fits = |(c, used): &(Chunk, usize)| {
            let addr = c.ptr.as_ptr() as usize + used;
            used + pad(addr) + bytes <= c.words * 8
        };
        if self.current.as_ref().is_some_and(|cur| !fits(cur)) {
            self.done.extend(self.current.take().map(|(c, _)| c));
        }
        let bytes_total = &mut self.bytes;
        let (chunk, used) = self.current.get_or_insert_with(|| {
            *bytes_total += CHUNK_BYTES;
            (Chunk::new(CHUNK_BYTES / 8), 0)
        });
        let start = *used + pad(chunk.ptr.as_ptr() as usize + *used);
        // SAFETY: `start + bytes <= chunk.words * 8` (checked, or a fresh chunk, which fits
        // any block up to `LARGE_BYTES` plus padding), so the block lies inside the chunk.
        let ptr = unsafe { chunk.ptr.cast::<u8>().add(start) };
        *used = start + bytes;
        ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_disjoint_and_writable() {
        let mut a = Arena::new();
        let mut blocks = Vec::new();
        for (i, size) in [
            1usize,
            7,
            8,
            9,
            100,
            LARGE_BYTES + 1,
            3000,
            CHUNK_BYTES / 8,
            56,
            64,
        ]
        .into_iter()
        .cycle()
        .take(300)
        .enumerate()
        {
            let p = match i % 3 {
                0 => a.alloc(size),
                1 => a.alloc_node(size),
                _ => a.alloc_packed(size),
            };
            let addr = p.as_ptr() as usize;
            if i % 3 != 2 {
                assert_eq!(addr % 8, 0);
            }
            if i % 3 == 1 && size <= 64 {
                assert!(
                    addr % 64 + size <= 64,
                    "a {size}-byte node straddles a line"
                );
            }
            // SAFETY: the block has `size` writable bytes.
            unsafe { std::ptr::write_bytes(p.as_ptr(), i as u8, size) };
            blocks.push((p, size, i as u8));
        }
        for (p, size, fill) in blocks {
            // SAFETY: written above, the arena is alive, blocks are disjoint.
            let s = unsafe { std::slice::from_raw_parts(p.as_ptr(), size) };
            assert!(
                s.iter().all(|&b| b == fill),
                "block of {size} bytes overwritten"
            );
        }
        assert!(a.bytes() >= CHUNK_BYTES);
    }
}
