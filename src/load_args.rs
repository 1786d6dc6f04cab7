//! Arguments given to the module at load time (`loadmodule path [name value ...]` or
//! `MODULE LOAD path [name value ...]`).

/// What the module was asked to do at load time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `CELL-COMPAT yes`: also register redis-cell's `CL.THROTTLE`.
    pub cell_compat: bool,
}

/// Parses `name value` pairs. An unknown name or value fails the load with a message
/// for the server log, rather than being ignored: a typo must not silently leave a
/// command out.
pub fn parse(args: &[&[u8]]) -> Result<LoadOptions, String> {
    let mut options = LoadOptions::default();
    let mut pairs = args.chunks(2);
    for pair in &mut pairs {
        let [name, value] = pair else {
            return Err(format!(
                "load argument {} has no value",
                String::from_utf8_lossy(pair[0])
            ));
        };
        if !name.eq_ignore_ascii_case(b"CELL-COMPAT") {
            return Err(format!(
                "unknown load argument {}: the only one is CELL-COMPAT yes|no",
                String::from_utf8_lossy(name)
            ));
        }
        options.cell_compat = if value.eq_ignore_ascii_case(b"yes") {
            true
        } else if value.eq_ignore_ascii_case(b"no") {
            false
        } else {
            return Err(format!(
                "CELL-COMPAT must be yes or no, not {}",
                String::from_utf8_lossy(value)
            ));
        };
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_compat_is_off_unless_asked_for() {
        assert_eq!(parse(&[]), Ok(LoadOptions { cell_compat: false }));
        assert!(parse(&[b"CELL-COMPAT", b"yes"]).unwrap().cell_compat);
        assert!(parse(&[b"cell-compat", b"YES"]).unwrap().cell_compat);
        assert!(!parse(&[b"CELL-COMPAT", b"no"]).unwrap().cell_compat);
    }

    #[test]
    fn mistakes_fail_the_load_with_a_reason() {
        let err = parse(&[b"CELL-COMPAT"]).unwrap_err();
        assert!(err.contains("no value"), "{err}");
        let err = parse(&[b"CELL-COMPAT", b"1"]).unwrap_err();
        assert!(err.contains("yes or no"), "{err}");
        let err = parse(&[b"CELL_COMPAT", b"yes"]).unwrap_err();
        assert!(err.contains("unknown load argument CELL_COMPAT"), "{err}");
    }
}
