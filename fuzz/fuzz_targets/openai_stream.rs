#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| llmward_openai::fuzz::stream(data));
