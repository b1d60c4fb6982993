//! A bounded single-producer single-consumer ring of `Copy` values, moved in batches.
//!
//! The engine and each probe worker talk through two of these (requests in, completions out).
//! One producer and one consumer means no compare-and-swap: the producer owns `tail`, the
//! consumer owns `head`, each reads the other's index with `Acquire` only when its cached copy
//! says the ring looks full (or empty). Head and tail live on their own cache lines
//! (`CachePadded`) so the two threads do not false-share. Capacity is a power of two so an
//! index maps to a slot with a mask. Indices are free-running `usize` counters; `tail - head`
//! is the fill level even across wrap-around.
//!
//! The split into [`Producer`] and [`Consumer`] halves, each `Send` but not `Clone`, is what
//! makes "single" true at compile time.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

struct Shared<T> {
    /// Next slot the consumer reads. Written only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Next slot the producer writes. Written only by the producer.
    tail: CachePadded<AtomicUsize>,
    mask: usize,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: a slot is written only by the producer while it is outside [head, tail) and read only
// by the consumer while it is inside; the Release store of `tail` (resp. `head`) after the write
// (resp. read) and the Acquire load on the other side order the slot access. `T: Copy + Send`
// means moving values between threads is sound and no drop runs on a slot.
unsafe impl<T: Copy + Send> Sync for Shared<T> {}
// SAFETY: as above; the shared state holds only `T: Send` values and atomics.
unsafe impl<T: Copy + Send> Send for Shared<T> {}

/// The writing half.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Our own tail (we are its only writer).
    tail: usize,
    /// Last head we saw; refreshed only when the ring looks full.
    head_cache: usize,
}

/// The reading half.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    head: usize,
    tail_cache: usize,
}

/// Creates a ring with `capacity` slots (a power of two, at least 2).
pub fn ring<T: Copy + Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(
        capacity.is_power_of_two() && capacity >= 2,
        "ring capacity must be a power of two >= 2, got {capacity}"
    );
    let slots = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect::<Vec<_>>()
        .into_boxed_slice();
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        mask: capacity - 1,
        slots,
    });
    (
        Producer {
            shared: shared.clone(),
            tail: 0,
            head_cache: 0,
        },
        Consumer {
            shared,
            head: 0,
            tail_cache: 0,
        },
    )
}

impl<T: Copy + Send> Producer<T> {
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }

    /// Free slots, refreshing our view of the consumer's head.
    pub fn free(&mut self) -> usize {
        self.head_cache = self.shared.head.load(Ordering::Acquire);
        self.capacity() - (self.tail - self.head_cache)
    }

    /// Pushes as many of `items` as fit, in order; returns how many were pushed.
    /// One Release store publishes the whole batch.
    pub fn push_batch(&mut self, items: &[T]) -> usize {
        let cap = self.capacity();
        let mut free = cap - (self.tail - self.head_cache);
        if free < items.len() {
            free = self.free();
        }
        let n = free.min(items.len());
        for (i, item) in items[..n].iter().enumerate() {
            let idx = (self.tail + i) & self.shared.mask;
            // SAFETY: slot `tail + i` is outside [head, tail) because `i < free`, so the
            // consumer does not read it until we publish the new tail below; we are the only
            // producer.
            unsafe { (*self.shared.slots[idx].get()).write(*item) };
        }
        if n > 0 {
            self.tail += n;
            self.shared.tail.store(self.tail, Ordering::Release);
        }
        n
    }

    /// Pushes one item; false when full.
    pub fn push(&mut self, item: T) -> bool {
        self.push_batch(std::slice::from_ref(&item)) == 1
    }
}

impl<T: Copy + Send> Consumer<T> {
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }

    /// Items waiting, refreshing our view of the producer's tail.
    pub fn len(&mut self) -> usize {
        self.tail_cache = self.shared.tail.load(Ordering::Acquire);
        self.tail_cache - self.head
    }

    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// Appends up to `max` items to `out`, in order; returns how many. One Release store
    /// hands all the read slots back to the producer.
    pub fn pop_batch(&mut self, out: &mut Vec<T>, max: usize) -> usize {
        let mut avail = self.tail_cache - self.head;
        if avail < max {
            avail = self.len();
        }
        let n = avail.min(max);
        out.reserve(n);
        for i in 0..n {
            let idx = (self.head + i) & self.shared.mask;
            // SAFETY: slot `head + i` is inside [head, tail) as published by the producer's
            // Release store that our Acquire load of `tail` observed, so it was initialized
            // and the producer will not touch it until we publish the new head below.
            let v = unsafe { (*self.shared.slots[idx].get()).assume_init() };
            out.push(v);
        }
        if n > 0 {
            self.head += n;
            self.shared.head.store(self.head, Ordering::Release);
        }
        n
    }

    pub fn pop(&mut self) -> Option<T> {
        let mut v = Vec::with_capacity(1);
        if self.pop_batch(&mut v, 1) == 1 {
            v.pop()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_to_capacity_and_refuses_more() {
        let (mut p, mut c) = ring::<u32>(8);
        assert_eq!(p.push_batch(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 8);
        assert!(!p.push(11));
        let mut out = Vec::new();
        assert_eq!(c.pop_batch(&mut out, 3), 3);
        assert_eq!(out, vec![1, 2, 3]);
        assert_eq!(p.push_batch(&[9, 10, 11, 12]), 3);
        out.clear();
        assert_eq!(c.pop_batch(&mut out, 100), 8);
        assert_eq!(out, vec![4, 5, 6, 7, 8, 9, 10, 11]);
        assert!(c.is_empty());
        assert_eq!(c.pop(), None);
    }

    #[test]
    #[should_panic(expected = "power of two")]
    fn rejects_non_power_of_two() {
        let _ = ring::<u8>(6);
    }

    /// Wide items across the wrap, in batches that straddle it: what goes in comes out.
    #[test]
    fn batches_across_the_wrap_keep_every_byte() {
        let (mut p, mut c) = ring::<[u64; 3]>(16);
        let mut out = Vec::new();
        let mut next = 0u64;
        let mut expect = 0u64;
        for round in 0..100u64 {
            let batch: Vec<[u64; 3]> = (0..(round % 13) + 1)
                .map(|k| [next + k, !(next + k), (next + k).rotate_left(17)])
                .collect();
            next += p.push_batch(&batch) as u64;
            out.clear();
            c.pop_batch(&mut out, (round % 7) as usize + 1);
            for v in &out {
                assert_eq!(*v, [expect, !expect, expect.rotate_left(17)]);
                expect += 1;
            }
        }
        out.clear();
        c.pop_batch(&mut out, 16);
        for v in &out {
            assert_eq!(*v, [expect, !expect, expect.rotate_left(17)]);
            expect += 1;
        }
        assert_eq!(expect, next, "every item pushed was popped");
        assert!(c.is_empty());
    }

    /// Two threads, a small ring (so it wraps and fills constantly): every value arrives once,
    /// in order. `tools/valgrind_ring.sh` runs it under memcheck with fewer items
    /// (`CPRA_RING_TEST_ITEMS`).
    #[test]
    fn threaded_order_and_no_loss() {
        let n: u64 = std::env::var("CPRA_RING_TEST_ITEMS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000_000);
        let (mut p, mut c) = ring::<u64>(64);
        let t = std::thread::spawn(move || {
            let mut next = 0u64;
            let mut batch = Vec::with_capacity(16);
            while next < n {
                batch.clear();
                for k in 0..16 {
                    if next + k < n {
                        batch.push(next + k);
                    }
                }
                let n = p.push_batch(&batch);
                next += n as u64;
                if n == 0 {
                    // Yield, not spin: under valgrind the threads take turns on one core.
                    std::thread::yield_now();
                }
            }
        });
        let mut expect = 0u64;
        let mut out = Vec::with_capacity(64);
        while expect < n {
            out.clear();
            if c.pop_batch(&mut out, 37) == 0 {
                std::thread::yield_now();
            }
            for v in &out {
                assert_eq!(*v, expect);
                expect += 1;
            }
        }
        t.join().unwrap();
        assert!(c.is_empty());
    }
}
