//! ferryd binary entry point.
fn main() {}
