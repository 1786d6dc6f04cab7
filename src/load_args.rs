//! Arguments given to the module at load time (`loadmodule path [name value ...]` or
//! `MODULE LOAD path [name value ...]`).

/// What the module was asked to do at load time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `CELL-COMPAT yes`: also register redis-cell's `CL.THROTTLE`.
    pub cell_compat: bool,
    /// `COMPACT-STATE yes`: store FIXED and GCRA state in the compact (int-encoded)
    /// form, trading server time for memory.
    pub compact_state: bool,
}

const NAMES: &str = "CELL-COMPAT yes|no, COMPACT-STATE yes|no";

/// Parses `name value` pairs. An unknown name or value fails the load with a message
/// for the server log, rather than being ignored: a typo must not silently leave a
/// command out or change how state is stored.
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
        let slot = if name.eq_ignore_ascii_case(b"CELL-COMPAT") {
            &mut options.cell_compat
        } else if name.eq_ignore_ascii_case(b"COMPACT-STATE") {
            &mut options.compact_state
        } else {
            return Err(format!(
                "unknown load argument {}: the arguments are {NAMES}",
                String::from_utf8_lossy(name)
            ));
        };
        *slot = if value.eq_ignore_ascii_case(b"yes") {
            true
        } else if value.eq_ignore_ascii_case(b"no") {
            false
        } else {
            return Err(format!(
                "{} must be yes or no, not {}",
                String::from_utf8_lossy(name).to_ascii_uppercase(),
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
    fn options_are_off_unless_asked_for() {
        assert_eq!(parse(&[]), Ok(LoadOptions::default()));
        assert!(!LoadOptions::default().cell_compat);
        assert!(!LoadOptions::default().compact_state);
        assert!(parse(&[b"CELL-COMPAT", b"yes"]).unwrap().cell_compat);
        assert!(parse(&[b"cell-compat", b"YES"]).unwrap().cell_compat);
        assert!(!parse(&[b"CELL-COMPAT", b"no"]).unwrap().cell_compat);
        assert_eq!(
            parse(&[b"compact-state", b"yes", b"CELL-COMPAT", b"yes"]),
            Ok(LoadOptions {
                cell_compat: true,
                compact_state: true
            })
        );
        assert!(!parse(&[b"COMPACT-STATE", b"no"]).unwrap().compact_state);
    }

    #[test]
    fn mistakes_fail_the_load_with_a_reason() {
        let err = parse(&[b"CELL-COMPAT"]).unwrap_err();
        assert!(err.contains("no value"), "{err}");
        let err = parse(&[b"CELL-COMPAT", b"1"]).unwrap_err();
        assert!(err.contains("CELL-COMPAT must be yes or no"), "{err}");
        let err = parse(&[b"compact-state", b"on"]).unwrap_err();
        assert!(err.contains("COMPACT-STATE must be yes or no"), "{err}");
        let err = parse(&[b"CELL_COMPAT", b"yes"]).unwrap_err();
        assert!(err.contains("unknown load argument CELL_COMPAT"), "{err}");
        assert!(err.contains("COMPACT-STATE yes|no"), "{err}");
    }
}
