//! swim-sim: minimal stub; its issue fills it.
