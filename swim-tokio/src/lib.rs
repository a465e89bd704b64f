//! swim-tokio: minimal stub; its issue fills it.
