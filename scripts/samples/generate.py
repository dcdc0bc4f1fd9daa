#!/usr/bin/env python3
"""Generate the committed sample checkpoints under ``samples/`` with the real libraries.

Everything is built from configs with seeded random init; nothing is downloaded.

How to run (from the repo root; the venv lives OUTSIDE the repo):

    python3 -m venv /work/.venv-samples
    /work/.venv-samples/bin/pip install \
        --index-url file:///opt/pypi/simple \
        --extra-index-url file:///opt/pypi-more/simple \
        --find-links /opt/wheels \
        torch transformers peft safetensors
    /work/.venv-samples/bin/python scripts/samples/generate.py

Library versions used for the committed files (also written to samples/VERSIONS.txt):
    python 3.11.7, torch 2.13.0+cpu, transformers 5.18.0, peft 0.21.0,
    safetensors 0.8.0

Outputs (all deterministic; running the script twice gives byte-identical files):
    samples/tiny-llama/            transformers LlamaForCausalLM, save_pretrained (fp32)
    samples/tiny-llama-lora/       peft LoRA adapter for tiny-llama (fp32)
    samples/kohya-style-lora.safetensors
                                   sd-scripts ("kohya") style LoRA, fp16, rank 4,
                                   written with safetensors.torch.save_file
    samples/VERSIONS.txt           library versions
    samples/README.md              table computed from the files written above
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import struct
import sys
from pathlib import Path

# PEFT stores LoraConfig.target_modules as a Python set and writes it to
# adapter_config.json in set-iteration order, which depends on str hashing.
# Re-exec with a fixed hash seed so that order (and the file) is reproducible.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import peft  # noqa: E402
import safetensors  # noqa: E402
import safetensors.torch  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
BASE_DIR = SAMPLES / "tiny-llama"
LORA_DIR = SAMPLES / "tiny-llama-lora"
KOHYA_FILE = SAMPLES / "kohya-style-lora.safetensors"

# Recorded in adapter_config.json as base_model_name_or_path. A relative,
# machine-independent value (the sibling folder), so the file is reproducible.
BASE_NAME_IN_ADAPTER = "tiny-llama"


def gen(seed: int) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


# --------------------------------------------------------------------------
# 1. tiny Llama base model
# --------------------------------------------------------------------------
def make_base() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    if BASE_DIR.exists():
        shutil.rmtree(BASE_DIR)
    model.save_pretrained(BASE_DIR, safe_serialization=True)
    return model


# --------------------------------------------------------------------------
# 2. PEFT LoRA adapter for the tiny Llama
# --------------------------------------------------------------------------
def make_lora(base: LlamaForCausalLM) -> None:
    torch.manual_seed(0)
    # Make PEFT record a relative, machine-independent base path.
    base.name_or_path = BASE_NAME_IN_ADAPTER
    base.config._name_or_path = BASE_NAME_IN_ADAPTER
    cfg = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, cfg)
    # PEFT initialises lora_B to zeros (a no-op adapter). Fill A and B with
    # small seeded random values so the adapter looks "trained".
    g = gen(1234)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "lora_A" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.01)
    if LORA_DIR.exists():
        shutil.rmtree(LORA_DIR)
    # Run from samples/ so PEFT can resolve base_model_name_or_path ("tiny-llama")
    # when it checks whether the embedding vocabulary changed.
    cwd = os.getcwd()
    os.chdir(SAMPLES)
    try:
        model.save_pretrained(LORA_DIR, safe_serialization=True)
    finally:
        os.chdir(cwd)
    # PEFT may also write a README.md model card; keep only the adapter files.
    card = LORA_DIR / "README.md"
    if card.exists():
        card.unlink()


# --------------------------------------------------------------------------
# 3. kohya / sd-scripts style LoRA
# --------------------------------------------------------------------------
# (kohya key prefix, in_features, out_features, kind) — SD 1.x shapes.
KOHYA_MODULES = [
    ("lora_unet_down_blocks_0_attentions_0_proj_in", 320, 320, "conv1x1"),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320, "linear"),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 768, 320, "linear"),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768, "linear"),
]
KOHYA_RANK = 4
KOHYA_ALPHA = 2.0


def addnet_hash_safetensors(b: io.BytesIO) -> str:
    """sd-scripts train_util.addnet_hash_safetensors: sha256 of the data after the header."""
    m = hashlib.sha256()
    b.seek(0)
    header = b.read(8)
    n = int.from_bytes(header, "little")
    b.seek(n + 8)
    for chunk in iter(lambda: b.read(1024 * 1024), b""):
        m.update(chunk)
    return m.hexdigest()


def addnet_hash_legacy(b: io.BytesIO) -> str:
    """sd-scripts train_util.addnet_hash_legacy (reads past EOF for small files)."""
    m = hashlib.sha256()
    b.seek(0x100000)
    m.update(b.read(0x10000))
    return m.hexdigest()[0:8]


def make_kohya() -> None:
    g = gen(42)
    tensors: dict[str, torch.Tensor] = {}
    for prefix, fin, fout, kind in KOHYA_MODULES:
        down = torch.randn(KOHYA_RANK, fin, generator=g) * 0.05
        up = torch.randn(fout, KOHYA_RANK, generator=g) * 0.01
        if kind == "conv1x1":
            down = down.reshape(KOHYA_RANK, fin, 1, 1)
            up = up.reshape(fout, KOHYA_RANK, 1, 1)
        tensors[f"{prefix}.lora_down.weight"] = down.to(torch.float16).contiguous()
        tensors[f"{prefix}.lora_up.weight"] = up.to(torch.float16).contiguous()
        # sd-scripts registers alpha as a 0-d buffer; save_precision=fp16 casts it too.
        tensors[f"{prefix}.alpha"] = torch.tensor(KOHYA_ALPHA).to(torch.float16)

    tag_frequency = {
        "10_lenslora": {
            "lenslora": 20,
            "1girl": 14,
            "solo": 12,
            "smile": 9,
            "looking at viewer": 8,
            "outdoors": 5,
            "red scarf": 3,
        },
        "5_lenslora style": {"lenslora style": 6, "landscape": 4, "no humans": 4},
    }
    dataset_dirs = {
        "10_lenslora": {"n_repeats": 10, "img_count": 20},
        "5_lenslora style": {"n_repeats": 5, "img_count": 6},
    }
    bucket_info = {
        "buckets": {
            "0": {"resolution": [448, 576], "count": 120},
            "1": {"resolution": [512, 512], "count": 110},
            "2": {"resolution": [576, 448], "count": 0},
        },
        "mean_img_ar_error": 0.0421875,
    }
    num_images = 20 * 10 + 6 * 5  # repeats included, as sd-scripts counts them
    metadata = {
        "ss_session_id": "1234567890",
        "ss_training_started_at": "1717236000.123456",
        "ss_training_finished_at": "1717239600.654321",
        "ss_output_name": "lenslora_v1",
        "ss_learning_rate": "0.0001",
        "ss_text_encoder_lr": "5e-05",
        "ss_unet_lr": "0.0001",
        "ss_num_train_images": str(num_images),
        "ss_num_reg_images": "0",
        "ss_num_batches_per_epoch": "115",
        "ss_num_epochs": "10",
        "ss_epoch": "10",
        "ss_steps": "1150",
        "ss_batch_size_per_device": "2",
        "ss_total_batch_size": "2",
        "ss_gradient_checkpointing": "False",
        "ss_gradient_accumulation_steps": "1",
        "ss_max_train_steps": "1150",
        "ss_lr_warmup_steps": "0",
        "ss_lr_scheduler": "cosine_with_restarts",
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(KOHYA_RANK),
        "ss_network_alpha": str(KOHYA_ALPHA),
        "ss_network_dropout": "None",
        "ss_mixed_precision": "fp16",
        "ss_full_fp16": "False",
        "ss_v2": "False",
        "ss_base_model_version": "sd_v1",
        "ss_clip_skip": "2",
        "ss_max_token_length": "225",
        "ss_cache_latents": "True",
        "ss_seed": "42",
        "ss_lowram": "False",
        "ss_noise_offset": "None",
        "ss_min_snr_gamma": "5.0",
        "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit(weight_decay=0.01)",
        "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
        "ss_sd_model_hash": "81761151",
        "ss_new_sd_model_hash": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
        "ss_vae_name": "None",
        "ss_resolution": "(512, 512)",
        "ss_enable_bucket": "True",
        "ss_min_bucket_reso": "256",
        "ss_max_bucket_reso": "1024",
        "ss_bucket_no_upscale": "False",
        "ss_keep_tokens": "1",
        "ss_shuffle_caption": "True",
        "ss_caption_dropout_rate": "0.0",
        "ss_color_aug": "False",
        "ss_flip_aug": "False",
        "ss_face_crop_aug_range": "None",
        "ss_training_comment": "LoRA Lens sample; random weights, not a real training run",
        "ss_tag_frequency": json.dumps(tag_frequency),
        "ss_dataset_dirs": json.dumps(dataset_dirs),
        "ss_reg_dataset_dirs": json.dumps({}),
        "ss_bucket_info": json.dumps(bucket_info),
        "ss_network_args": json.dumps({"rank_dropout": "0.0", "module_dropout": "0.0"}),
    }
    # sd-scripts hashes only the tensors + ss_* metadata (before modelspec is added).
    buf = io.BytesIO(safetensors.torch.save(tensors, metadata))
    metadata["sshs_model_hash"] = addnet_hash_safetensors(buf)
    metadata["sshs_legacy_hash"] = addnet_hash_legacy(buf)
    metadata.update(
        {
            "modelspec.sai_model_spec": "1.0.0",
            "modelspec.architecture": "stable-diffusion-v1/lora",
            "modelspec.implementation": "diffusers",
            "modelspec.title": "lenslora_v1",
            "modelspec.author": "LoRA Lens samples",
            "modelspec.description": "Tiny random kohya-style LoRA for tests",
            "modelspec.resolution": "512x512",
            "modelspec.date": "2024-06-01T10:00:00",
            "modelspec.prediction_type": "epsilon",
            "modelspec.tags": "sample, test",
        }
    )
    if KOHYA_FILE.exists():
        KOHYA_FILE.unlink()
    safetensors.torch.save_file(tensors, str(KOHYA_FILE), metadata=metadata)
    canonicalise_metadata_order(KOHYA_FILE, metadata)


def canonicalise_metadata_order(path: Path, metadata: dict[str, str]) -> None:
    """Rewrite the header so __metadata__ keys appear in ``metadata``'s insertion order.

    safetensors (Rust) keeps __metadata__ in a HashMap with a per-process random
    seed, so save_file writes the metadata keys in a different order on every run
    (tensor entries and data are deterministic). Only the key order changes here:
    same keys, same values, same header length, same data bytes.
    """
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    old = data[8 : 8 + n]
    header = json.loads(old)
    assert header.pop("__metadata__") == metadata
    new_obj = {"__metadata__": metadata, **header}
    new = json.dumps(new_obj, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(new) == len(old.rstrip(b" ")), (len(new), len(old))
    new = new + b" " * (n - len(new))  # keep safetensors' 8-byte alignment padding
    assert json.loads(new) == json.loads(old)
    path.write_bytes(data[:8] + new + data[8 + n :])


# --------------------------------------------------------------------------
# 4. VERSIONS.txt and README.md (numbers computed from the written files)
# --------------------------------------------------------------------------
def write_versions() -> None:
    lines = [
        f"python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"transformers {transformers.__version__}",
        f"peft {peft.__version__}",
        f"safetensors {safetensors.__version__}",
    ]
    (SAMPLES / "VERSIONS.txt").write_text("\n".join(lines) + "\n")


def raw_header(path: Path) -> dict:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def describe(path: Path) -> dict:
    header = raw_header(path)
    meta = header.pop("__metadata__", None)
    params = 0
    dtypes: dict[str, int] = {}
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
        for k in keys:
            sl = f.get_slice(k)
            shape = sl.get_shape()
            n = 1
            for d in shape:
                n *= d
            params += n
            dt = header[k]["dtype"]
            dtypes[dt] = dtypes.get(dt, 0) + 1
    assert len(keys) == len(header)
    return {
        "tensors": len(keys),
        "params": params,
        "dtypes": dtypes,
        "size": path.stat().st_size,
        "metadata": meta,
    }


def fmt_dtypes(d: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in sorted(d.items()))


def write_readme() -> dict:
    rows = [
        (
            "`tiny-llama/model.safetensors`",
            "Tiny `LlamaForCausalLM` base model (vocab 256, hidden 64, 2 layers, 4 heads / 2 KV heads, untied lm_head), random init",
            "transformers `save_pretrained`",
            BASE_DIR / "model.safetensors",
        ),
        (
            "`tiny-llama-lora/adapter_model.safetensors`",
            "PEFT LoRA adapter for `tiny-llama` (r=8, alpha=16, q/k/v/o_proj); lora_A and lora_B filled with seeded random values",
            "peft `save_pretrained`",
            LORA_DIR / "adapter_model.safetensors",
        ),
        (
            "`kohya-style-lora.safetensors`",
            "sd-scripts (kohya) style SD1.x LoRA, rank 4, alpha 2.0, 4 modules (3 UNet incl. one 1×1 conv, 1 text encoder), 0-d `alpha` tensors, `ss_*` + `modelspec.*` metadata",
            "safetensors `save_file`",
            KOHYA_FILE,
        ),
    ]
    stats = {}
    table = [
        "| File | What it is | Written by | Tensors | Parameters | Dtype(s) | Size (bytes) | `__metadata__` keys |",
        "|---|---|---|---:|---:|---|---:|---:|",
    ]
    for name, what, who, path in rows:
        s = describe(path)
        stats[str(path.relative_to(REPO))] = s
        nmeta = len(s["metadata"]) if s["metadata"] else 0
        table.append(
            f"| {name} | {what} | {who} | {s['tensors']} | {s['params']:,} | "
            f"{fmt_dtypes(s['dtypes'])} | {s['size']:,} | {nmeta} |"
        )
    other = []
    for p in sorted(SAMPLES.rglob("*")):
        if p.is_file() and p.suffix != ".safetensors" and p.name != "README.md":
            other.append(f"| `{p.relative_to(SAMPLES).as_posix()}` | {p.stat().st_size:,} |")

    versions = (SAMPLES / "VERSIONS.txt").read_text().strip().splitlines()
    text = "\n".join(
        [
            "# Samples",
            "",
            "Small checkpoints written by the real libraries, for tests and demos.",
            "All weights are random (seeded); nothing here was trained or downloaded.",
            "",
            "Regenerate (byte-identical output) with:",
            "",
            "```sh",
            "/work/.venv-samples/bin/python scripts/samples/generate.py",
            "```",
            "",
            "See the docstring of `scripts/samples/generate.py` for the venv setup.",
            "Versions used: " + ", ".join(versions) + " (also in `VERSIONS.txt`).",
            "",
            "## safetensors files",
            "",
            *table,
            "",
            "Parameter count is the product of each tensor's shape, summed; a 0-d tensor",
            "(the kohya `alpha` scalars, shape `[]`) counts as 1.",
            "",
            "`__metadata__`:",
            "",
            "- `tiny-llama/model.safetensors`: "
            + f"`{json.dumps(stats['samples/tiny-llama/model.safetensors']['metadata'])}`",
            "- `tiny-llama-lora/adapter_model.safetensors`: "
            + f"`{json.dumps(stats['samples/tiny-llama-lora/adapter_model.safetensors']['metadata'])}`",
            "- `kohya-style-lora.safetensors`: "
            + f"{len(stats['samples/kohya-style-lora.safetensors']['metadata'])} string entries "
            "(`ss_*`, `sshs_*`, `modelspec.*`); `ss_tag_frequency`, `ss_dataset_dirs`, "
            "`ss_reg_dataset_dirs`, `ss_bucket_info` and `ss_network_args` hold JSON inside "
            "the string. `sshs_model_hash` / `sshs_legacy_hash` are computed as sd-scripts does.",
            "",
            "## Other files",
            "",
            "| File | Size (bytes) |",
            "|---|---:|",
            *other,
            "",
        ]
    )
    (SAMPLES / "README.md").write_text(text)
    return stats


def main() -> int:
    torch.use_deterministic_algorithms(True)
    SAMPLES.mkdir(exist_ok=True)
    base = make_base()
    make_lora(base)
    make_kohya()
    write_versions()
    stats = write_readme()
    for path, s in stats.items():
        print(f"{path}: {s['tensors']} tensors, {s['params']} params, "
              f"{fmt_dtypes(s['dtypes'])}, {s['size']} bytes")
        print(f"  __metadata__ = {json.dumps(s['metadata'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
