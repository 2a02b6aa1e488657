//! The init-time floor every function is compared against (being written).
fn main() {}
