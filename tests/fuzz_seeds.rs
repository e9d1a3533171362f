//! Replays every fuzz target's committed seeds (`fuzz/seeds/<target>/`) through the same entry
//! point the fuzzer calls, so CI exercises them without a fuzzer. Crash reproducers found by
//! fuzzing are committed there too, named after the defect they guard against.
#![allow(clippy::unwrap_used)]

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        run(&data);
        // Every prefix too: truncated input is the commonest hostile shape.
        for cut in (0..data.len()).step_by(7) {
            run(&data[..cut]);
        }
        n += 1;
    }
    assert!(n > 0, "no seeds for {target}");
}

macro_rules! seeds {
    ($($name:ident => $run:path),* $(,)?) => {
        $(#[test] fn $name() { replay(stringify!($name), $run); })*
    };
}

seeds! {
    sse => llmward_core::fuzz::sse,
    redact => llmward_core::fuzz::redact,
    retry_after => llmward_core::fuzz::retry_after,
    aggregate => llmward_core::fuzz::aggregate,
    openai_response => llmward_openai::fuzz::response,
    openai_error => llmward_openai::fuzz::error,
    openai_stream => llmward_openai::fuzz::stream,
    anthropic_response => llmward_anthropic::fuzz::response,
    anthropic_error => llmward_anthropic::fuzz::error,
    anthropic_stream => llmward_anthropic::fuzz::stream,
    gemini_response => llmward_gemini::fuzz::response,
    gemini_error => llmward_gemini::fuzz::error,
    gemini_stream => llmward_gemini::fuzz::stream,
}
