//! One MTA log line through the parser and the analyser: never a panic, whatever the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxray_logs::{Analyzer, LineParser, NoSink, Options, Parsed, YearGuess};

fuzz_target!(|data: &[u8]| {
    let mut p = LineParser::new(None, YearGuess::starting(2026));
    let mut a = Analyzer::new(Options::default());
    for line in data.split(|b| *b == b'\n') {
        if let Parsed::Event { time, mta, event } = p.parse(line) {
            let _ = a.apply(time, mta, event, line, "fuzz", &mut NoSink);
        }
    }
    let _ = a.finish(Vec::new());
});
