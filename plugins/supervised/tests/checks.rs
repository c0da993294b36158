//! The checks engines run on what ends up in paths, argv and environments.

use edp_supervised::checks::{binary_name, env_name, execution_id, no_nul};

#[test]
fn names() {
    assert!(env_name("_A1", "p").is_ok());
    assert!(env_name("1A", "p").is_err());
    assert!(env_name("A-B", "p").is_err());
    assert!(env_name("", "p").is_err());
    let err = env_name("A-B", "params").err().map(|e| e.message).unwrap_or_default();
    assert!(err.starts_with("params: `A-B`"), "{err}");
    assert!(binary_name("a..b.jar").is_ok());
    for bad in ["", ".", "..", "a/b", "x\0", "stdout", "exit", "job.json", "exit.tmp"] {
        assert!(binary_name(bad).is_err(), "{bad:?}");
    }
    assert!(execution_id("0b6e1b9c-5f7e-4c0e-8e43-0d3c2f1a9b7d").is_ok());
    for bad in ["../x", "", "a/b", "a.b", &"x".repeat(129)] {
        assert!(execution_id(bad).is_err(), "{bad:?}");
    }
    assert!(no_nul("a b", "arg").is_ok());
    assert!(no_nul("a\0b", "arg").is_err());
}
