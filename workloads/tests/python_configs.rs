//! The real-GPU runner (`python/run_workload.py`) must build the models the
//! simulator lowers: its configuration block, the JSON between the marker
//! lines, has to equal the `ModelConfig` constants of `src/model.rs` field for
//! field (as serde names them), its default sequence lengths have to equal
//! `WorkloadSpec::default_seq`, and the fields only Python has (norm epsilon,
//! RoPE, dropout) have to equal the published `config.json` values below.

use boundscope_workloads::model::{MODELS, ModelConfig};
use boundscope_workloads::{Dtype, WorkloadSpec};
use serde_json::{Map, Value, json};

const BEGIN: &str = "# BEGIN MODEL CONFIGS (checked against workloads/src/model.rs)";
const END: &str = "# END MODEL CONFIGS";

/// Fields the Python block has beyond `ModelConfig`'s.
const PYTHON_ONLY: [&str; 6] =
    ["default_seq", "norm_eps", "rope_theta", "rope_scaling", "hidden_dropout", "attention_dropout"];

fn script_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/python/run_workload.py");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The JSON text between the marker lines (whole lines, the markers excluded).
fn config_block(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let find = |marker: &str| {
        let at: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.trim() == marker).map(|(i, _)| i).collect();
        assert_eq!(at.len(), 1, "the script must hold exactly one line `{marker}`, found {}", at.len());
        at[0]
    };
    let (begin, end) = (find(BEGIN), find(END));
    assert!(begin < end, "`{END}` comes before `{BEGIN}`");
    lines[begin + 1..end].join("\n")
}

fn python_configs() -> Map<String, Value> {
    let text = script_text();
    let block = config_block(&text);
    match serde_json::from_str(&block) {
        Ok(Value::Object(map)) => map,
        Ok(other) => panic!("the configuration block is not a JSON object: {other}"),
        Err(e) => panic!("the configuration block is not valid JSON: {e}"),
    }
}

/// Published values of the Python-only fields (`config.json` of `hf_config`):
/// Llama-3.2-1B rms_norm_eps, rope_theta, rope_scaling, attention_dropout;
/// GPT-2 layer_norm_epsilon, resid/embd_pdrop, attn_pdrop; BERT layer_norm_eps,
/// hidden_dropout_prob, attention_probs_dropout_prob.
fn published(id: &str) -> Value {
    match id {
        "llama-3.2-1b" => json!({
            "norm_eps": 1e-5,
            "rope_theta": 500_000.0,
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 32.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192
            },
            "hidden_dropout": 0.0,
            "attention_dropout": 0.0
        }),
        "gpt2" => json!({
            "norm_eps": 1e-5,
            "rope_theta": null,
            "rope_scaling": null,
            "hidden_dropout": 0.1,
            "attention_dropout": 0.1
        }),
        "bert-base" => json!({
            "norm_eps": 1e-12,
            "rope_theta": null,
            "rope_scaling": null,
            "hidden_dropout": 0.1,
            "attention_dropout": 0.1
        }),
        other => panic!("no published values written down for {other}"),
    }
}

/// Equal JSON, numbers compared by value (1 and 1.0 alike).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// Every difference between the Python block and the Rust constants, one line each.
fn differences(python: &Map<String, Value>, models: &[&'static ModelConfig]) -> Vec<String> {
    let mut diffs = Vec::new();
    for key in python.keys() {
        if !models.iter().any(|m| m.id == key) {
            diffs.push(format!("{key}: in run_workload.py but not in model.rs MODELS"));
        }
    }
    for m in models {
        let Some(py) = python.get(m.id) else {
            diffs.push(format!("{}: in model.rs MODELS but not in run_workload.py", m.id));
            continue;
        };
        let Some(py) = py.as_object() else {
            diffs.push(format!("{}: not a JSON object in run_workload.py", m.id));
            continue;
        };
        let rust = match serde_json::to_value(m) {
            Ok(Value::Object(map)) => map,
            other => panic!("ModelConfig does not serialize to an object: {other:?}"),
        };
        // Fields both sides have: exactly equal, integers as integers.
        for (field, want) in &rust {
            match py.get(field) {
                None => diffs.push(format!("{}.{field}: missing in run_workload.py (model.rs: {want})", m.id)),
                Some(got) if got != want => {
                    diffs.push(format!("{}.{field}: run_workload.py {got}, model.rs {want}", m.id))
                }
                Some(_) => {}
            }
        }
        for field in py.keys() {
            if !rust.contains_key(field) && !PYTHON_ONLY.contains(&field.as_str()) {
                diffs.push(format!("{}.{field}: unknown field (neither in ModelConfig nor a Python-only one)", m.id));
            }
        }
        // Default sequence lengths: WorkloadSpec::default_seq per supported phase.
        let want_seq: Map<String, Value> = m
            .phases
            .iter()
            .map(|&phase| {
                let w = WorkloadSpec { model: m, phase, dtype: Dtype::Bf16, stack: Default::default() };
                (phase.as_str().to_string(), json!(w.default_seq()))
            })
            .collect();
        let want_seq = Value::Object(want_seq);
        match py.get("default_seq") {
            Some(got) if got == &want_seq => {}
            got => diffs.push(format!(
                "{}.default_seq: run_workload.py {}, WorkloadSpec::default_seq {want_seq}",
                m.id,
                got.map_or("missing".to_string(), Value::to_string)
            )),
        }
        // Python-only fields: the published values.
        let Value::Object(published) = published(m.id) else { unreachable!("published() returns objects") };
        for (field, want) in &published {
            match py.get(field) {
                Some(got) if same_value(got, want) => {}
                got => diffs.push(format!(
                    "{}.{field}: run_workload.py {}, published {want}",
                    m.id,
                    got.map_or("missing".to_string(), Value::to_string)
                )),
            }
        }
    }
    diffs
}

#[test]
fn python_model_configs_equal_rust_model_constants() {
    let python = python_configs();
    let diffs = differences(&python, &MODELS);
    assert!(diffs.is_empty(), "run_workload.py and model.rs disagree:\n  {}", diffs.join("\n  "));
}

#[test]
fn a_changed_field_in_the_python_block_is_caught() {
    let python = python_configs();
    // Every number and flag of every model, changed one at a time, must be reported.
    for m in MODELS {
        let fields: Vec<String> = python[m.id].as_object().expect("object").keys().cloned().collect();
        for field in fields {
            let mut changed = python.clone();
            let entry = changed.get_mut(m.id).and_then(|v| v.get_mut(&field)).expect("field");
            *entry = match entry {
                Value::Number(n) => json!(n.as_f64().expect("number") + 1.0),
                Value::Bool(b) => json!(!*b),
                Value::String(s) => json!(format!("{s}-changed")),
                Value::Null => json!(1),
                Value::Array(a) => json!(a[..a.len() - 1]),
                Value::Object(o) => {
                    let mut o = o.clone();
                    let first = o.keys().next().cloned().expect("non-empty object");
                    o.remove(&first);
                    Value::Object(o)
                }
            };
            let diffs = differences(&changed, &MODELS);
            assert!(
                diffs.iter().any(|d| d.starts_with(&format!("{}.{field}:", m.id))),
                "changing {}.{field} went unnoticed: {diffs:?}",
                m.id
            );
        }
        let mut missing = python.clone();
        missing.remove(m.id);
        assert!(!differences(&missing, &MODELS).is_empty(), "dropping {} went unnoticed", m.id);
    }
    // An integer written as a float (which Python would pass on as a float) is a difference too.
    let mut float_layers = python.clone();
    *float_layers.get_mut("gpt2").and_then(|v| v.get_mut("layers")).expect("layers") = json!(12.0);
    assert!(!differences(&float_layers, &MODELS).is_empty(), "layers 12.0 went unnoticed");
}
