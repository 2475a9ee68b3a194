//! Misuse of `#[memoize]` is a compile error at the offending span, with a clear message;
//! correct use compiles cleanly under strict lints.

#[test]
fn misuse_fails_to_compile_at_the_offending_span_and_correct_use_compiles_cleanly() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui-pass/*.rs");
}
