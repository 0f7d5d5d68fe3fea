//! Fuzzes the Dockerfile parser: any bytes (read as UTF-8, lossily) must parse or fail
//! cleanly, and every instruction of a successful parse must render with `to_text` to a
//! line that parses back to the same instruction.

#![no_main]

use berth_dockerfile::{parse, to_text_with_escape, Dockerfile, Instruction, Located};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(dockerfile) = parse(&text) {
        for located in dockerfile.stages.iter().flat_map(|stage| &stage.instructions) {
            check_round_trip(&dockerfile, located);
        }
    }
});

fn check_round_trip(dockerfile: &Dockerfile, located: &Located<Instruction>) {
    let escape = dockerfile.escape;
    let rendered = to_text_with_escape(&located.inner, escape);
    // A line ending in escaped whitespace, or in the escape character (only possible on a
    // file's last line), cannot be written back as one line: the documented exception.
    if rendered.ends_with(escape) || rendered.trim_end() != rendered {
        return;
    }
    let reparsed = match parse(&format!("# escape={escape}\nFROM scratch\n{rendered}")) {
        Ok(reparsed) => reparsed,
        Err(e) => panic!("{:?} rendered as {rendered:?} does not parse: {e}", located.original),
    };
    let again = &reparsed.stages[0].instructions[0].inner;
    match (again, &located.inner) {
        // A trigger's text is re-rendered, so compare what it parsed to.
        (Instruction::Onbuild(again), Instruction::Onbuild(first)) => assert_eq!(again.inner, first.inner),
        (again, first) => assert_eq!(again, first, "{:?} rendered as {rendered:?}", located.original),
    }
}
