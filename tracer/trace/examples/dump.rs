//! Prints the table sizes of a trace: `cargo run --example dump -- FILE`.
fn main() {
    for arg in std::env::args().skip(1) {
        match boundscope_trace::read_trace(std::path::Path::new(&arg)) {
            Ok(t) => {
                println!(
                    "{arg}: api {} activities {} host_ops {} gpu_ann {} sync {} counters {} steps {} threads {} devices {} warnings {:?}",
                    t.api.len(),
                    t.activities.len(),
                    t.host_ops.len(),
                    t.gpu_annotations.len(),
                    t.sync_events.len(),
                    t.counters.len(),
                    t.steps.len(),
                    t.threads.len(),
                    t.devices.len(),
                    t.diagnostics.warnings()
                );
            }
            Err(e) => println!("error: {e}"),
        }
    }
}
