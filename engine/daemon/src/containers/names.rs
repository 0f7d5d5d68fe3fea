//! Container names: the ones users give (`--name`), checked as Docker checks them, and the
//! ones berth makes up when none is given (`adjective_noun`, from its own word lists).

/// Whether a user-given name is acceptable: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, one optional
/// leading slash, as Docker accepts.
pub fn valid(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "bright", "brisk", "calm", "clever", "cosy", "crisp", "curious", "daring", "deft",
    "eager", "earnest", "fair", "fancy", "fearless", "fleet", "gentle", "glad", "golden", "grand", "happy", "hardy",
    "hearty", "honest", "humble", "jolly", "keen", "kind", "lively", "loyal", "lucid", "merry", "mighty", "modest",
    "nimble", "noble", "patient", "placid", "plucky", "proud", "quick", "quiet", "radiant", "rapid", "ready", "serene",
    "sharp", "shy", "sleepy", "smart", "snug", "solid", "spry", "steady", "stoic", "sturdy", "sunny", "swift",
    "tender", "tidy", "tranquil", "trusty", "upbeat", "vivid", "warm", "wise", "witty", "zesty",
];

const NOUNS: &[&str] = &[
    "anchor",
    "atoll",
    "barge",
    "beacon",
    "bollard",
    "bosun",
    "breaker",
    "buoy",
    "cabin",
    "capstan",
    "cargo",
    "channel",
    "coral",
    "crane",
    "current",
    "cutter",
    "delta",
    "dinghy",
    "dock",
    "dory",
    "estuary",
    "ferry",
    "fjord",
    "galley",
    "gull",
    "harbour",
    "hatch",
    "hull",
    "inlet",
    "island",
    "jetty",
    "keel",
    "kelp",
    "lagoon",
    "lantern",
    "lighthouse",
    "mast",
    "mooring",
    "narrows",
    "oar",
    "otter",
    "pelican",
    "pier",
    "pilot",
    "port",
    "quay",
    "reef",
    "rigging",
    "rudder",
    "sail",
    "schooner",
    "seal",
    "shoal",
    "skiff",
    "sloop",
    "sound",
    "spray",
    "starboard",
    "strait",
    "surf",
    "tern",
    "tide",
    "tug",
    "wake",
    "wave",
    "wharf",
    "winch",
    "yawl",
];

/// A made-up name for the `n`-th attempt from `seed` (random bytes); the caller retries with
/// the next `n` while the name is taken. After many tries a number is appended.
pub fn generated(seed: &[u8], attempt: usize) -> String {
    let byte = |i: usize| seed.get(i).copied().unwrap_or(0) as usize;
    let pick = |i: usize, len: usize| (byte(i) * 256 + byte(i + 1)) % len;
    let adjective = ADJECTIVES[(pick(0, ADJECTIVES.len()) + attempt) % ADJECTIVES.len()];
    let noun = NOUNS[(pick(2, NOUNS.len()) + attempt / ADJECTIVES.len()) % NOUNS.len()];
    if attempt < ADJECTIVES.len() * NOUNS.len() {
        format!("{adjective}_{noun}")
    } else {
        format!("{adjective}_{noun}{attempt}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_docker() {
        for ok in ["web", "/web", "my-app_1.2", "A9"] {
            assert!(valid(ok), "{ok}");
        }
        for bad in ["", "/", "-web", "_x", "a b", "a/b", "ü"] {
            assert!(!valid(bad), "{bad}");
        }
    }

    #[test]
    fn generated_names_are_valid_and_vary() {
        let names: std::collections::HashSet<String> = (0..50).map(|n| generated(&[7, 9, 11, 13], n)).collect();
        assert_eq!(names.len(), 50);
        assert!(names.iter().all(|n| valid(n)));
    }
}
