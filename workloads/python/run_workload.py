#!/usr/bin/env python3
"""Runs one of boundscope's reference LLM workloads on a real GPU.

Builds Llama-3.2-1B, GPT-2 (124M) or BERT-base with PyTorch and Hugging Face
`transformers` from their published configurations (the JSON block below,
which `workloads/tests/python_configs.rs` checks against the simulator's
`workloads/src/model.rs`), with random weights: nothing is downloaded. Then it
runs warm-up and measured steps of one phase, the way `workloads/src/lower.rs`
models them:

  prefill  input ids copied to the device, one forward over batch x seq tokens
           (no grad, use_cache=True, logits of the last position only), then
           generate()'s greedy pick: .float(), argmax, read back to the host.
           BERT: BertModel (encoder and pooler), then a synchronize.
  decode   one new token per sequence against a DynamicCache of seq tokens,
           then the same pick. The cache is filled once by an untimed prefill
           before the warm-up and cropped back to seq tokens before every
           step, so each step attends to seq cached tokens. BERT has none.
  train    input ids and labels (= input ids) copied, forward, loss,
           backward, AdamW step, zero_grad(set_to_none=True), loss.item().
           The weights (and optimizer state) stay in --dtype.

Every warm-up and measured step is an NVTX range named `boundscope:step`
(CUDA only) that ends with torch.cuda.synchronize(), so `boundscope profile
--skip-steps WARMUP` sees the measured steps. --kineto also records the
measured steps with torch.profiler (one ProfilerStep#N per step).

    python3 run_workload.py --model llama-3.2-1b --phase decode --batch 8
    boundscope profile --out run/ --skip-steps 3 -- python3 run_workload.py --model gpt2 --phase train --batch 4
    python3 run_workload.py --model gpt2 --phase prefill --kineto trace.json.gz

The last line printed is `boundscope-result {json}`. Exit status: 0 success,
2 bad arguments, 3 CUDA out of memory, 1 any other failure (missing packages,
no CUDA device); each failure is one line on stderr starting `run_workload.py:`.
"""

import argparse
import inspect
import json
import statistics
import sys
import time
import warnings

PROG = "run_workload.py"

# Published configurations (config.json of each `hf_config` checkpoint). Field
# names are those of `ModelConfig` in workloads/src/model.rs, enum values as
# its serde names them; the extra fields (default_seq, norm_eps, rope_theta,
# rope_scaling, hidden_dropout, attention_dropout) have no Rust counterpart
# and are checked against the published values by the same test.
MODEL_CONFIGS_JSON = """
# BEGIN MODEL CONFIGS (checked against workloads/src/model.rs)
{
  "llama-3.2-1b": {
    "id": "llama-3.2-1b",
    "hf_config": "meta-llama/Llama-3.2-1B",
    "arch": "llama",
    "layers": 16,
    "hidden": 2048,
    "heads": 32,
    "kv_heads": 8,
    "head_dim": 64,
    "intermediate": 8192,
    "vocab": 128256,
    "max_positions": 131072,
    "type_vocab": 0,
    "tied_embeddings": true,
    "linear_bias": false,
    "qkv_bias": false,
    "norm": "rms_norm",
    "activation": "silu",
    "positions": "rope",
    "phases": ["prefill", "decode", "train"],
    "default_seq": {"prefill": 128, "decode": 1024, "train": 512},
    "norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "rope_scaling": {
      "rope_type": "llama3",
      "factor": 32.0,
      "low_freq_factor": 1.0,
      "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192
    },
    "hidden_dropout": 0.0,
    "attention_dropout": 0.0
  },
  "gpt2": {
    "id": "gpt2",
    "hf_config": "openai-community/gpt2",
    "arch": "gpt2",
    "layers": 12,
    "hidden": 768,
    "heads": 12,
    "kv_heads": 12,
    "head_dim": 64,
    "intermediate": 3072,
    "vocab": 50257,
    "max_positions": 1024,
    "type_vocab": 0,
    "tied_embeddings": true,
    "linear_bias": true,
    "qkv_bias": true,
    "norm": "layer_norm",
    "activation": "gelu_new",
    "positions": "learned",
    "phases": ["prefill", "decode", "train"],
    "default_seq": {"prefill": 128, "decode": 512, "train": 512},
    "norm_eps": 1e-05,
    "rope_theta": null,
    "rope_scaling": null,
    "hidden_dropout": 0.1,
    "attention_dropout": 0.1
  },
  "bert-base": {
    "id": "bert-base",
    "hf_config": "google-bert/bert-base-uncased",
    "arch": "bert",
    "layers": 12,
    "hidden": 768,
    "heads": 12,
    "kv_heads": 12,
    "head_dim": 64,
    "intermediate": 3072,
    "vocab": 30522,
    "max_positions": 512,
    "type_vocab": 2,
    "tied_embeddings": true,
    "linear_bias": true,
    "qkv_bias": true,
    "norm": "layer_norm",
    "activation": "gelu",
    "positions": "learned",
    "phases": ["prefill", "train"],
    "default_seq": {"prefill": 128, "train": 128},
    "norm_eps": 1e-12,
    "rope_theta": null,
    "rope_scaling": null,
    "hidden_dropout": 0.1,
    "attention_dropout": 0.1
  }
}
# END MODEL CONFIGS
"""


def load_model_configs():
    """The JSON between the marker lines, keyed by model name."""
    lines = [line.strip() for line in MODEL_CONFIGS_JSON.splitlines()]
    begin = next(i for i, line in enumerate(lines) if line.startswith("# BEGIN MODEL CONFIGS"))
    end = lines.index("# END MODEL CONFIGS")
    return json.loads("\n".join(lines[begin + 1 : end]))


MODELS = load_model_configs()
PHASES = ("prefill", "decode", "train")
DTYPES = ("bf16", "fp16")


class UsageError(Exception):
    """Bad arguments: exit 2."""


class Failure(Exception):
    """Anything else that stops the run: exit 1."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    p = Parser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 ok, 2 bad arguments, 3 CUDA out of memory, 1 other failures.",
    )
    p.add_argument("--model", required=True, type=str.lower, help="one of: " + ", ".join(MODELS))
    p.add_argument("--phase", required=True, type=str.lower, help="prefill, decode (not bert-base) or train")
    p.add_argument("--batch", type=int, default=1, help="sequences per step (default 1)")
    p.add_argument(
        "--seq",
        type=int,
        help="prompt length (prefill), KV-cache length (decode) or sequence length (train); "
        "default as the simulator: prefill 128, decode 1024 (gpt2 512), train 512 (bert-base 128)",
    )
    p.add_argument("--steps", type=int, default=10, help="measured steps (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps before them, also NVTX-marked (default 3)")
    p.add_argument("--dtype", type=str.lower, default="bf16", help="bf16 (default) or fp16, weights included")
    p.add_argument("--device", type=str.lower, default="cuda", help="cuda (default) or cpu (smoke tests)")
    p.add_argument("--attn", type=str.lower, default="sdpa", help="attn_implementation: sdpa (default) or eager")
    p.add_argument("--kineto", metavar="PATH", help="record the measured steps with torch.profiler to PATH (.json[.gz])")
    p.add_argument("--fused-adamw", action="store_true", help="train: AdamW(fused=True) instead of the default foreach")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and input ids (default 0)")
    a = p.parse_args(argv)

    if a.model not in MODELS:
        raise UsageError(f"unknown model '{a.model}'; valid models: {', '.join(MODELS)}")
    cfg = MODELS[a.model]
    if a.phase not in PHASES:
        raise UsageError(f"unknown phase '{a.phase}'; valid phases: {', '.join(PHASES)}")
    if a.phase not in cfg["phases"]:
        raise UsageError(f"{a.model} has no phase '{a.phase}'; valid phases: {', '.join(cfg['phases'])}")
    for name, allowed in (("dtype", DTYPES), ("device", ("cuda", "cpu")), ("attn", ("sdpa", "eager"))):
        if getattr(a, name) not in allowed:
            raise UsageError(f"--{name} must be one of {', '.join(allowed)}, not '{getattr(a, name)}'")
    if a.seq is None:
        a.seq = cfg["default_seq"][a.phase]
    if a.batch < 1:
        raise UsageError("--batch must be at least 1")
    if a.seq < 1:
        raise UsageError("--seq must be at least 1")
    if a.steps < 1:
        raise UsageError("--steps must be at least 1")
    if a.warmup < 0:
        raise UsageError("--warmup must be at least 0")
    # As WorkloadSpec::check_shape: decode appends one token to a cache of seq.
    longest = a.seq + 1 if a.phase == "decode" else a.seq
    if longest > cfg["max_positions"]:
        extra = " (plus the decoded token)" if a.phase == "decode" else ""
        raise UsageError(
            f"{a.model} handles at most {cfg['max_positions']} positions; --seq {a.seq}{extra} is too long"
        )
    if a.fused_adamw and a.phase != "train":
        raise UsageError("--fused-adamw only applies to --phase train")
    return a


def import_packages():
    try:
        import torch
        import transformers
    except ImportError as e:
        raise Failure(f"needs PyTorch and Hugging Face transformers ({e}): pip install torch transformers") from None
    return torch, transformers


def version_tuple(v):
    out = []
    for part in v.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def hf_config(cfg, attn):
    """The transformers configuration object of `cfg`, built in code."""
    from transformers import BertConfig, GPT2Config, LlamaConfig

    act = {"silu": "silu", "gelu_new": "gelu_new", "gelu": "gelu"}[cfg["activation"]]
    if cfg["heads"] * cfg["head_dim"] != cfg["hidden"] and cfg["arch"] != "llama":
        raise Failure(f"inconsistent configuration for {cfg['id']}: heads x head_dim != hidden")
    if cfg["arch"] == "llama":
        assert cfg["norm"] == "rms_norm" and cfg["positions"] == "rope" and cfg["type_vocab"] == 0
        # LlamaConfig's attention_bias covers q, k, v and o alike.
        assert cfg["qkv_bias"] == cfg["linear_bias"]
        if "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters:
            # transformers 5: theta and scaling in one dict.
            rope = {"rope_parameters": {**cfg["rope_scaling"], "rope_theta": cfg["rope_theta"]}}
        else:
            rope = {"rope_theta": cfg["rope_theta"], "rope_scaling": dict(cfg["rope_scaling"])}
        c = LlamaConfig(
            vocab_size=cfg["vocab"],
            hidden_size=cfg["hidden"],
            intermediate_size=cfg["intermediate"],
            num_hidden_layers=cfg["layers"],
            num_attention_heads=cfg["heads"],
            num_key_value_heads=cfg["kv_heads"],
            head_dim=cfg["head_dim"],
            hidden_act=act,
            max_position_embeddings=cfg["max_positions"],
            rms_norm_eps=cfg["norm_eps"],
            attention_bias=cfg["linear_bias"],
            mlp_bias=cfg["linear_bias"],
            attention_dropout=cfg["attention_dropout"],
            tie_word_embeddings=cfg["tied_embeddings"],
            bos_token_id=128000,
            eos_token_id=128001,
            **rope,
        )
    elif cfg["arch"] == "gpt2":
        # GPT-2's attention has no grouped heads and its Conv1D layers always carry biases.
        assert cfg["kv_heads"] == cfg["heads"] and cfg["linear_bias"] and cfg["norm"] == "layer_norm"
        assert cfg["positions"] == "learned" and cfg["type_vocab"] == 0
        c = GPT2Config(
            vocab_size=cfg["vocab"],
            n_positions=cfg["max_positions"],
            n_embd=cfg["hidden"],
            n_layer=cfg["layers"],
            n_head=cfg["heads"],
            n_inner=cfg["intermediate"],
            activation_function=act,
            resid_pdrop=cfg["hidden_dropout"],
            embd_pdrop=cfg["hidden_dropout"],
            attn_pdrop=cfg["attention_dropout"],
            layer_norm_epsilon=cfg["norm_eps"],
            tie_word_embeddings=cfg["tied_embeddings"],
            bos_token_id=50256,
            eos_token_id=50256,
        )
    elif cfg["arch"] == "bert":
        assert cfg["kv_heads"] == cfg["heads"] and cfg["linear_bias"] and cfg["norm"] == "layer_norm"
        assert cfg["positions"] == "learned"
        c = BertConfig(
            vocab_size=cfg["vocab"],
            hidden_size=cfg["hidden"],
            num_hidden_layers=cfg["layers"],
            num_attention_heads=cfg["heads"],
            intermediate_size=cfg["intermediate"],
            hidden_act=act,
            hidden_dropout_prob=cfg["hidden_dropout"],
            attention_probs_dropout_prob=cfg["attention_dropout"],
            max_position_embeddings=cfg["max_positions"],
            type_vocab_size=cfg["type_vocab"],
            layer_norm_eps=cfg["norm_eps"],
            tie_word_embeddings=cfg["tied_embeddings"],
            pad_token_id=0,
        )
    else:
        raise Failure(f"unknown architecture '{cfg['arch']}'")
    return c


def build_model(torch, transformers, cfg, a, dtype, device):
    """Random-weight model for the phase, created on `device` in `dtype`."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    config = hf_config(cfg, a.attn)
    if cfg["arch"] == "bert":
        # Prefill is the encoder with its pooler (BertModel); training the masked-LM model.
        cls = AutoModelForMaskedLM if a.phase == "train" else AutoModel
    else:
        cls = AutoModelForCausalLM
    # transformers 4.56 renamed from_config's torch_dtype to dtype.
    dtype_kw = "dtype" if version_tuple(transformers.__version__) >= (4, 56) else "torch_dtype"
    with torch.device(device):
        model = cls.from_config(config, attn_implementation=a.attn, **{dtype_kw: dtype})
    model.to(device)
    if any(p.dtype != dtype for p in model.parameters()):
        model.to(dtype)
    return model


def last_logits_kwargs(model):
    """Keyword arguments that make a causal LM compute the last position's logits only, as generate() does."""
    params = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return {name: 1}
    return {}


def cache_names(model):
    """The forward keyword (and output field) of the KV cache: `cache` since transformers 5.x, else `past_key_values`."""
    if "cache" in inspect.signature(model.forward).parameters:
        return "cache"
    return "past_key_values"


def cache_len(past):
    if hasattr(past, "get_seq_length"):
        return int(past.get_seq_length())
    return int(past[0][0].shape[-2])


def crop_cache(past, length):
    """Trims a KV cache back to `length` positions (views: no kernel).

    A negative argument to `crop` removes that many tokens in transformers 4.x
    and 5.x alike; legacy tuple caches are sliced."""
    excess = cache_len(past) - length
    if excess <= 0:
        return past
    if hasattr(past, "crop"):
        past.crop(-excess)
        return past
    return tuple(tuple(t[..., :length, :] for t in layer) for layer in past)


def run(a):
    cfg = MODELS[a.model]
    torch, transformers = import_packages()
    if a.device == "cuda":
        if not torch.cuda.is_available():
            cuda = torch.version.cuda or "none"
            raise Failure(
                f"no CUDA device visible to PyTorch {torch.__version__} (built for CUDA {cuda}); "
                "--device cpu runs a smoke test"
            )
        if a.dtype == "bf16" and not torch.cuda.is_bf16_supported():
            raise Failure(f"{torch.cuda.get_device_name()} does not support bf16; use --dtype fp16")
    device = torch.device(a.device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[a.dtype]
    cuda = device.type == "cuda"
    warnings.filterwarnings("ignore", message=".*(torch_dtype|use_cache=True|past_key_values).*")

    torch.manual_seed(a.seed)
    model = build_model(torch, transformers, cfg, a, dtype, device)
    n_params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(a.seed)
    # Token ids live in pageable host memory and are copied every step, as a data loader's would be.
    ids_host = torch.randint(0, cfg["vocab"], (a.batch, a.seq), generator=gen, dtype=torch.long)
    causal = cfg["arch"] != "bert"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    state = {}
    if a.phase == "train":
        model.train()
        opt_kw = {"fused": True} if a.fused_adamw else {}
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, **opt_kw)
        labels_host = ids_host.clone()
        fwd_kw = {"use_cache": False} if causal else {}

        def body():
            ids = ids_host.to(device)
            labels = labels_host.to(device)
            out = model(input_ids=ids, labels=labels, **fwd_kw)
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            state["loss"] = out.loss.item()

    elif a.phase == "prefill":
        model.eval()
        fwd_kw = {"use_cache": True, **last_logits_kwargs(model)} if causal else {}

        def body():
            with torch.no_grad():
                ids = ids_host.to(device)
                out = model(input_ids=ids, **fwd_kw)
                if causal:
                    # generate()'s greedy pick: last position's logits, float32, argmax, read back.
                    state["tokens"] = out.logits[:, -1, :].float().argmax(-1).cpu()
                else:
                    state["pooled"] = out.pooler_output

    else:  # decode
        model.eval()
        cache_kw = cache_names(model)
        with torch.no_grad():
            # The untimed prefill that fills the cache with seq tokens.
            out = model(input_ids=ids_host.to(device), use_cache=True, **last_logits_kwargs(model))
            state["past"] = getattr(out, cache_kw)
            state["next"] = out.logits[:, -1, :].float().argmax(-1, keepdim=True)
            del out
        sync()
        if cache_len(state["past"]) != a.seq:
            raise Failure(f"the prefilled KV cache holds {cache_len(state['past'])} tokens, not {a.seq}")

        def body():
            with torch.no_grad():
                out = model(input_ids=state["next"], use_cache=True, **{cache_kw: state["past"]})
                state["past"] = getattr(out, cache_kw)
                picked = out.logits[:, -1, :].float().argmax(-1)
                state["tokens"] = picked.cpu()
                state["next"] = picked[:, None]

    def step():
        if a.phase == "decode":
            # Back to seq cached tokens (a view: no kernel); the step appends one.
            state["past"] = crop_cache(state["past"], a.seq)
            if cache_len(state["past"]) != a.seq:
                raise Failure(f"the KV cache holds {cache_len(state['past'])} tokens after cropping, not {a.seq}")
        t0 = time.perf_counter()
        if cuda:
            torch.cuda.nvtx.range_push("boundscope:step")
        body()
        sync()
        if cuda:
            torch.cuda.nvtx.range_pop()
        return (time.perf_counter() - t0) * 1e3

    device_name = torch.cuda.get_device_name(device) if cuda else "cpu"
    print(
        f"model {a.model}: {cfg['hf_config']} configuration, random weights, {n_params:,} parameters, "
        f"{a.dtype} on {device_name}, attention {a.attn}"
    )
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    shape = {"prefill": "prompt", "decode": "KV cache", "train": "sequence"}[a.phase]
    print(f"phase {a.phase}: batch {a.batch}, {shape} {a.seq}, {a.warmup} warm-up + {a.steps} measured steps")

    for _ in range(a.warmup):
        step()
    step_ms = []
    if a.kineto:
        from torch.profiler import ProfilerActivity, profile, schedule

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Profiler won't be using warmup": our warm-up ran above.
            sched = schedule(wait=0, warmup=0, active=a.steps, repeat=1)
        # A schedule makes prof.step() emit the ProfilerStep#N annotations.
        with profile(activities=activities, schedule=sched) as prof:
            for _ in range(a.steps):
                step_ms.append(step())
                prof.step()
        prof.export_chrome_trace(a.kineto)
        print(f"kineto trace of the {a.steps} measured steps: {a.kineto}")
    else:
        for _ in range(a.steps):
            step_ms.append(step())

    tokens = a.batch if a.phase == "decode" else a.batch * a.seq
    med = statistics.median(step_ms)
    line = f"step ms: median {med:.3f}, min {min(step_ms):.3f}, max {max(step_ms):.3f}; {tokens / med * 1e3:,.1f} tokens/s"
    if "loss" in state:
        line += f"; last loss {state['loss']:.4f}"
    print(line + (" (under torch.profiler)" if a.kineto else ""))
    result = {
        "model": a.model,
        "phase": a.phase,
        "batch": a.batch,
        "seq": a.seq,
        "dtype": a.dtype,
        "device": a.device,
        "steps": a.steps,
        "warmup": a.warmup,
        "step_ms": [round(x, 4) for x in step_ms],
        "tokens_per_step": tokens,
        "attn": a.attn,
        "parameters": n_params,
        "device_name": device_name,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "kineto": a.kineto,
    }
    if a.phase != "train" and causal:
        result["last_position_logits_only"] = bool(last_logits_kwargs(model))
    if a.phase == "decode":
        # Every step started from seq cached tokens and appended its own (hence seq + 1 after the last).
        result["kv_cache_len"] = a.seq
        result["kv_cache_len_after_last_step"] = cache_len(state["past"])
    if a.phase == "train":
        result["adamw"] = "fused" if a.fused_adamw else "default"
    print("boundscope-result " + json.dumps(result), flush=True)


def main(argv=None):
    try:
        a = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    try:
        run(a)
    except Failure as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        torch = sys.modules.get("torch")
        oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
        if oom is not None and isinstance(e, oom):
            print(f"{PROG}: out of memory at batch {a.batch}", file=sys.stderr)
            return 3
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
