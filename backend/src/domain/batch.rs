//! Batched writes from a small, fixed set of statements. The background flushes write
//! whatever a second gathered: were each statement as long as its batch, every batch
//! size would be a new statement text, which each pooled connection prepares and keeps
//! (and PostgreSQL plans and keeps per backend), so memory would grow with every size
//! ever seen. Cut into [`SIZES`] only, a kind of statement has at most that many texts.

/// The row counts a batched statement may have, largest first. Each row binds at most
/// six values, so the largest stays well within SQLite's and PostgreSQL's bind limits.
pub const SIZES: [usize; 5] = [500, 100, 20, 5, 1];

/// `rows` in consecutive slices whose lengths are all in [`SIZES`], largest first: a
/// batch of `n` rows is at most `n / 500 + 16` statements.
pub fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let size = SIZES.iter().copied().find(|&s| s <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_batch_is_cut_into_the_fixed_sizes_in_order() {
        for n in (0..=1_300).chain([4_999, 10_000]) {
            let rows: Vec<usize> = (0..n).collect();
            let cut: Vec<&[usize]> = chunks(&rows).collect();
            assert!(cut.iter().all(|c| SIZES.contains(&c.len())), "{n}");
            assert_eq!(cut.concat(), rows, "{n}");
            assert!(cut.len() <= n / 500 + 16, "{n}: {}", cut.len());
            assert!(cut.windows(2).all(|w| w[0].len() >= w[1].len()), "{n}");
        }
    }
}
