#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_anthropic::fuzz::stream(data));
