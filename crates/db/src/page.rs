//! Keyset pages: a query asks for one row more than the page holds; if it came, there is a next
//! page, whose cursor is the last row kept.

/// Trims `rows` (fetched with `limit + 1`) to `limit`; the next page's cursor, if there is one.
pub fn next_page<T, C>(rows: &mut Vec<T>, limit: u32, cursor: impl Fn(&T) -> C) -> Option<C> {
    if rows.len() <= limit as usize {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(cursor)
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn one_extra_row_means_a_next_page() {
        let mut rows = vec![1, 2, 3];
        assert_eq!(next_page(&mut rows, 2, |r| *r), Some(2));
        assert_eq!(rows, [1, 2]);
        let mut rows = vec![1, 2];
        assert_eq!(next_page(&mut rows, 2, |r| *r), None);
        assert_eq!(rows, [1, 2]);
    }
}
