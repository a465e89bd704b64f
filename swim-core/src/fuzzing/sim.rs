//! Target `sim` (being written).

/// Target `sim`.
pub fn sim(data: &[u8]) {
    let _ = data;
}
