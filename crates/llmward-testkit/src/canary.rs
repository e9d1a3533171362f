//! Canary keys for leak audits, derived from a seed that is printed once per test process and
//! that `LLMWARD_CANARY_SEED` overrides, so a failing audit replays exactly.
//!
//! A canary's secret part alternates its character classes so that every run of 8 characters
//! holds at least two capitals from `G`–`Z` and two digits: such a run is never a number, a
//! hex string, a latency figure or a word, so an audit by llmward's 8-character rule cannot
//! fire on anything but the canary itself.
//!
//! ```
//! let key = llmward_testkit::canary::key("sk-proj-", "openai");
//! assert!(key.starts_with("sk-proj-") && key.len() == 8 + 40);
//! assert_eq!(key, llmward_testkit::canary::key("sk-proj-", "openai"));
//! ```

use std::sync::OnceLock;

/// The variable that fixes the seed.
pub const SEED_VAR: &str = "LLMWARD_CANARY_SEED";

/// Length of a canary's secret part.
pub const SECRET_LEN: usize = 40;

/// This process's canary seed: `LLMWARD_CANARY_SEED` when set, else drawn from the clock and
/// the process id. Printed to stderr the first time it is asked for.
pub fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = match std::env::var(SEED_VAR) {
            Ok(value) => value
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{SEED_VAR} must be an unsigned integer")),
            Err(_) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                splitmix(nanos ^ u64::from(std::process::id()).rotate_left(32))
            }
        };
        eprintln!("canary seed: {seed} (replay with {SEED_VAR}={seed})");
        seed
    })
}

/// The canary key for `label`: `prefix` followed by a secret part of [`SECRET_LEN`]
/// characters derived from [`seed`] and `label`. The same label gives the same key within a
/// process; different labels give unrelated keys.
pub fn key(prefix: &str, label: &str) -> String {
    let mut state = seed();
    for b in label.bytes() {
        state = splitmix(state ^ u64::from(b));
    }
    const CAPS: &[u8] = b"GHIJKLMNOPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"0123456789";
    const ANY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(prefix.len() + SECRET_LEN);
    out.push_str(prefix);
    for i in 0..SECRET_LEN {
        state = splitmix(state);
        let class = match i % 4 {
            0 => CAPS,
            2 => DIGITS,
            _ => ANY,
        };
        out.push(char::from(class[(state % class.len() as u64) as usize]));
    }
    out
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_of_eight_holds_capitals_and_digits() {
        for label in ["a", "b", "openai", "rotated"] {
            let k = key("sk-", label);
            let part = &k.as_bytes()[3..];
            for w in part.windows(8) {
                assert!(
                    w.iter()
                        .filter(|b| b"GHIJKLMNOPQRSTUVWXYZ".contains(b))
                        .count()
                        >= 2
                );
                assert!(w.iter().filter(|b| b.is_ascii_digit()).count() >= 2);
            }
        }
        assert_ne!(key("sk-", "a"), key("sk-", "b"));
    }
}
