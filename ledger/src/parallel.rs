//! Work spread over a few threads: a commit's data files, a large file's
//! columns.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Calls `f` with every item and its index, on up to `threads` threads (the
/// caller's among them), each taking the next item not yet taken, so that a
/// thread done with a cheap item goes on to the next rather than waiting;
/// returns the results in the items' order. A panic on a helper thread
/// resumes on the caller's.
pub(crate) fn each<T: Send, R: Send>(items: Vec<T>, threads: usize, f: impl Fn(usize, T) -> R + Sync) -> Vec<R> {
    let count = items.len();
    let items: Vec<Mutex<Option<T>>> = items.into_iter().map(|item| Mutex::new(Some(item))).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = items.get(index) else { return done };
            if let Some(item) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
                done.push((index, f(index, item)));
            }
        }
    };
    let mut results = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(count)).map(|_| scope.spawn(work)).collect();
        let mut results = work();
        for helper in helpers {
            match helper.join() {
                Ok(done) => results.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    });
    results.sort_unstable_by_key(|(index, _)| *index);
    debug_assert_eq!(results.len(), count, "every item is taken once");
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::each;

    #[test]
    fn every_item_is_handled_once_and_the_results_keep_their_order() {
        for threads in [1, 2, 3, 8] {
            for count in [0, 1, 2, 7, 100] {
                let items: Vec<u64> = (0..count).collect();
                let results = each(items, threads, |index, item| (index, item * 2, std::thread::current().id()));
                let expected: Vec<(usize, u64)> = (0..count).map(|i| (i as usize, i * 2)).collect();
                let got: Vec<(usize, u64)> = results.iter().map(|&(i, v, _)| (i, v)).collect();
                assert_eq!(got, expected, "{count} items on {threads} threads");
            }
        }
    }

    #[test]
    #[should_panic(expected = "item 5")]
    fn a_panic_on_any_thread_reaches_the_caller() {
        each((0..64).collect(), 4, |_, item: u32| {
            if item == 5 {
                panic!("item 5");
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        });
    }
}
