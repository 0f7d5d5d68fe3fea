//! A stand-in for the `berth` binary in the runtime's tests: `__monitor` runs the monitor,
//! `__start <spec.json>` starts a container, prints its pid and sleeps (the test then kills
//! this process with SIGKILL to show the container's monitor outlives its parent).

use berth_runtime::{monitor, Monitor, Spec};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some(monitor::MODE) => monitor::main(args),
        Some("__start") => start(args.get(2).map(String::as_str).unwrap_or_default()),
        _ => {
            eprintln!("usage: berth-monitor-test __monitor STATE_DIR | __start SPEC_JSON");
            2
        }
    };
    std::process::exit(code);
}

fn start(spec_path: &str) -> i32 {
    let result = std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Spec>(&b).map_err(|e| e.to_string()))
        .and_then(|spec| {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            Monitor::start(&exe, &spec).map_err(|e| e.to_string())
        });
    match result {
        Ok((_, pid)) => {
            println!("{pid}");
            let _ = std::io::stdout().flush();
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
