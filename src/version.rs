//! The release's version, as the crate states it and as `MODULE LIST` shows it.
//!
//! `RedisModule_Init` takes the module's version as one integer. Like RedisJSON and
//! RediSearch (2.6.9 is 20609), it is `major * 10000 + minor * 100 + patch`, so
//! `MODULE LIST` names the release a server has loaded. It is computed from the
//! crate's version at compile time: there is no second copy to forget.

/// The crate's version, `major.minor.patch`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version `MODULE LIST` reports: 0.3.0 is 300, 1.2.3 is 10203.
pub const MODULE_VERSION: i32 = encode(
    parse(env!("CARGO_PKG_VERSION_MAJOR")),
    parse(env!("CARGO_PKG_VERSION_MINOR")),
    parse(env!("CARGO_PKG_VERSION_PATCH")),
);

/// `major * 10000 + minor * 100 + patch`. Minor and patch must stay below 100 for the
/// encoding to read back, so a release past that fails to compile rather than lie.
pub const fn encode(major: u32, minor: u32, patch: u32) -> i32 {
    assert!(
        minor < 100 && patch < 100,
        "minor and patch must be below 100"
    );
    assert!(major < 100_000, "major too large for MODULE LIST's version");
    (major * 10_000 + minor * 100 + patch) as i32
}

/// The encoded version back as `major.minor.patch`.
pub fn decode(version: i32) -> String {
    let v = version.max(0);
    format!("{}.{}.{}", v / 10_000, v / 100 % 100, v % 100)
}

/// A decimal number at compile time (Cargo's version parts are plain digits).
const fn parse(digits: &str) -> u32 {
    let bytes = digits.as_bytes();
    assert!(!bytes.is_empty(), "empty version part");
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "version part is not a number");
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_redisjson_does() {
        assert_eq!(encode(2, 6, 9), 20609);
        assert_eq!(encode(0, 3, 0), 300);
        assert_eq!(encode(1, 0, 0), 10000);
        assert_eq!(encode(0, 0, 1), 1);
    }

    #[test]
    fn the_module_version_reads_back_as_the_crate_version() {
        assert_eq!(decode(MODULE_VERSION), VERSION);
    }

    #[test]
    fn decode_inverts_encode() {
        for (major, minor, patch) in [(0, 0, 0), (0, 3, 0), (2, 6, 9), (12, 99, 99), (7, 0, 15)] {
            let text = format!("{major}.{minor}.{patch}");
            assert_eq!(decode(encode(major, minor, patch)), text);
        }
    }

    #[test]
    fn parses_decimal_parts() {
        assert_eq!(parse("0"), 0);
        assert_eq!(parse("15"), 15);
        assert_eq!(parse("20609"), 20609);
    }
}
