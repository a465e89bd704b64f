//! swim-mio: minimal stub; its issue fills it.
