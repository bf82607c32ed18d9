//! One AFL++ harness for every target: `ROOMPEER_FUZZ_TARGET` names it (see
//! `roompeer::fuzz::TARGETS`). A crash AFL++ finds is a file under `fuzz/out/<target>/`;
//! `scripts/fuzz.sh --replay FILE` and a regression test in `tests/fuzz.rs` replay it.

fn main() {
    let name = std::env::var("ROOMPEER_FUZZ_TARGET").unwrap_or_default();
    let Some(target) = roompeer::fuzz::target(&name) else {
        let names: Vec<&str> = roompeer::fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("set ROOMPEER_FUZZ_TARGET to one of: {}", names.join(", "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}
