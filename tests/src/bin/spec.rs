//! `cargo xtask spec`: for every property of every schema in the published spec, the model field
//! that carries it; exits 1 when one has none, so a field added to a future spec is a failing
//! line rather than a silent gap. Also lists the spec's known defects, corrected in one place.

use std::process::ExitCode;

fn main() -> ExitCode {
    let path = hpp_tests::spec::path();
    let spec = match std::fs::read_to_string(&path) {
        Ok(text) => hpp_tests::spec::Spec::from_yaml(&text),
        Err(e) => {
            eprintln!("hpp-spec: the published spec is not at {} ({e})", path.display());
            return ExitCode::FAILURE;
        }
    };
    let carriers = spec.carriers();
    let mut missing = 0;
    for (property, carrier) in &carriers {
        match carrier {
            Ok(field) => println!("{property:<55} {field}"),
            Err(why) => {
                missing += 1;
                println!("{property:<55} MISSING: {why}");
            }
        }
    }
    println!("\nknown defects of the spec, corrected by hpp_tests::spec (each with its reason):");
    for (what, why) in hpp_tests::spec::KNOWN_DEFECTS {
        println!("- {what}: {why}");
    }
    if missing == 0 {
        println!("\n{} properties, every one carried by the model", carriers.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("\nhpp-spec: {missing} of {} properties have no model field", carriers.len());
        ExitCode::FAILURE
    }
}
