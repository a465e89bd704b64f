//! Address allow-list.
