//! The SMTP reply reader's line parser and what is built on it (capabilities, raw text): any
//! bytes a hostile server sends, never a panic; a parsed line keeps its code in 200..=599.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_net::smtp::{Reply, capabilities, parse_line};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = Vec::new();
    let mut code = 0;
    for l in text.split('\n') {
        if let Ok((c, _more, rest)) = parse_line(l.trim_end_matches('\r')) {
            assert!((200..=599).contains(&c), "{c}");
            code = c;
            lines.push(rest.to_string());
        }
    }
    let r = Reply {
        code,
        lines,
        elapsed_ms: 0,
    };
    let _ = capabilities(&r);
    let _ = r.raw();
    let _ = r.is_positive();
});
