#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| llmward_core::fuzz::redact(data));
