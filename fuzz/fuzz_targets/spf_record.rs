//! The one SPF record parser (RFC 7208 grammar) on any text: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_diagnose::sender::spf::record::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse(s);
    }
});
