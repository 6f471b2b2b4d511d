//! Vector values (work in progress).
