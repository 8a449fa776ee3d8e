//! Address and domain syntax on any text: never a panic, and what is accepted can never carry
//! a line break or NUL into an SMTP command, and parses again to the same address.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_core::DomainName;
use mxray_core::address::parse_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = DomainName::parse(s);
    if let Ok(t) = parse_target(s) {
        let n = t.normalized();
        assert!(!n.contains(['\r', '\n', '\0']), "{n:?}");
        let again = parse_target(&n).expect("a normalised address parses");
        assert_eq!(again.normalized(), n);
    }
});
