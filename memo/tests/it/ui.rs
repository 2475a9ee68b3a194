//! Misuse of `#[memoize]` is a compile error at the offending span, with a clear message.

#[test]
fn misuse_is_a_compile_error_at_the_offending_span() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
