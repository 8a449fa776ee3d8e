//! Fuzz target: arbitrary bytes as a log (split into lines) through the line parsers, the
//! template masker and the analyzer; any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxray_logs::{Analyzer, LineParser, NoSink, Options, Parsed, YearGuess, template};

fuzz_target!(|data: &[u8]| {
    let mut parser = LineParser::new(None, YearGuess::starting(2026));
    let mut analyzer = Analyzer::new(Options {
        events: true,
        ..Options::default()
    });
    for line in data.split(|&b| b == b'\n') {
        let _ = template(line);
        if let Parsed::Event { time, mta, event } = parser.parse(line) {
            let _ = analyzer.apply(time, mta, event, line, "fuzz", &mut NoSink);
        }
    }
    let _ = analyzer.finish(Vec::new());
});
