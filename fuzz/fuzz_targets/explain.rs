//! `mxray explain` on any text (replies, DSNs, log snippets): never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = mxray_core::explain(&s);
    let _ = mxray_core::reply::extract_all(&s);
});
