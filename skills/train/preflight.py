"""Checks that run before any training work: device, backend, memory, target modules.

Each failure is a one-sentence SelftuneError saying what is wrong and what to do, so a job fails in
seconds instead of after minutes of loading.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import psutil

from config.errors import SelftuneError
from skills.train.spec import TrainSpec

log = logging.getLogger(__name__)
GIB = 1024**3
# Keep activations only when the estimate without checkpointing uses at most this share of free memory: the
# estimate is rough, and the rest of the machine (or the GPU's allocator) needs room too.
CHECKPOINTING_HEADROOM = 0.5


class PreflightError(SelftuneError):
    """The job cannot run as specified on this machine."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def mps_available() -> bool:
    """Apple Silicon's GPU (Metal Performance Shaders) through torch."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def best_device() -> str:
    """What `device = "auto"` means on this machine: cuda, then mps, then cpu."""
    if cuda_available():
        return "cuda"
    return "mps" if mps_available() else "cpu"


def bf16_native(device: str) -> bool:
    """Whether bfloat16 math is native here: a bf16-capable GPU, or a CPU with AVX512-BF16 or AMX."""
    import torch

    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    if device == "mps":
        return False  # fp32 on Apple GPUs: bf16 support there depends on the macOS version
    # torch's own CPUID probes (private, present since torch 2.3): the vdpbf16ps / AMX instructions make bf16
    # matmuls several times faster than fp32 on CPU; without them bf16 is emulated and slower.
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def default_bf16(spec: TrainSpec, device: str) -> bool:
    """bf16 unless told: on CUDA as before; on CPU for SFT where native, but preference training stays fp32.

    DPO/KTO learn from log p(policy) - log p(reference), which early on is smaller than bf16's resolution in the
    activations (2^-8 relative): on SmolLM2 a 4-step DPO run's mean loss was 0.47 in bf16 vs 0.30 in fp32 (plain TRL
    alike), and an 8-step KTO run's 0.34 vs 0.27 (step 2: 0.47 vs 0.36), while SFT's stayed within ~2%.
    """
    if device == "cuda":
        return bf16_native(device)
    return spec.method not in ("dpo", "kto") and bf16_native(device)


def use_bf16(spec: TrainSpec, device: str) -> bool:
    """The spec's `bf16`, or (unset) the default for this method on this device."""
    chosen = spec.hyper.bf16
    return default_bf16(spec, device) if chosen is None else chosen


def pick_device(spec: TrainSpec) -> str:
    """'cuda', 'mps' or 'cpu' (auto: in that order); a device that is not here is an error, not a silent fallback."""
    if spec.device == "cpu":
        return "cpu"
    if spec.device == "cuda" and not cuda_available():
        raise PreflightError(
            "The spec asks for device 'cuda' but no CUDA GPU is visible here; run it on the GPU machine "
            "(executor ray) or set device = 'auto'."
        )
    if spec.device == "mps" and not mps_available():
        raise PreflightError("The spec asks for device 'mps' but this machine has no Apple GPU that torch can use; "
                             "set device = 'auto'.")
    device = best_device() if spec.device == "auto" else spec.device
    if device == "mps" and spec.method == "qlora":  # bitsandbytes' 4-bit kernels are CUDA (and CPU) only
        raise PreflightError("QLoRA's 4-bit weights (bitsandbytes) do not run on Apple's mps; use method 'lora', "
                             "or device 'cpu'.")
    return device


def pick_backend(spec: TrainSpec, device: str) -> str:
    """'unsloth' when installed and on CUDA (auto), else 'trl'; an impossible explicit request is an error."""
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if spec.backend == "unsloth" and not (has_unsloth and device == "cuda"):
        missing = "is not installed" if not has_unsloth else "needs a CUDA GPU"
        raise PreflightError(f"Backend 'unsloth' {missing}; use backend = 'trl' or 'auto'.")
    if spec.backend == "auto":
        return "unsloth" if has_unsloth and device == "cuda" and spec.method != "full" else "trl"
    return spec.backend


def meta_model(model_dir: Path) -> Any:
    """The model's architecture with no weights (meta device): cheap to inspect, nothing allocated."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def linear_module_names(model: Any) -> set[str]:
    """Short names (q_proj, up_proj, ...) of the model's Linear layers, excluding the output head."""
    import torch

    names = set()
    for full_name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not full_name.endswith("lm_head"):
            names.add(full_name.rsplit(".", 1)[-1])
    return names


def check_target_modules(spec: TrainSpec, model: Any) -> None:
    """Explicit target modules must exist in the model (PEFT's own error comes later and is cryptic)."""
    wanted = spec.hyper.target_modules
    if spec.method == "full" or wanted == "all-linear":
        return
    names = [wanted] if isinstance(wanted, str) else wanted
    available = linear_module_names(model)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise PreflightError(
            f"Target module(s) {', '.join(unknown)} do not exist in {spec.base_model}; "
            f"choose from {', '.join(sorted(available))} or 'all-linear'."
        )


def estimate_memory_bytes(
    spec: TrainSpec, n_params: int, hidden: int, layers: int, checkpointing: bool | None = None,
) -> int:
    """Rough peak training memory: weights + optimizer/grad state + activations.

    full: fp32 weights 4 + grads 4 + AdamW 8 = 16 bytes/param. LoRA: frozen weights (4 bytes, 2 in bf16, or
    ~0.56 in NF4) plus ~1% trainable params at 16 bytes. Activations: ~34 bytes per token per hidden unit per layer
    without checkpointing (the usual transformer estimate), times tokens in one micro-batch.
    """
    if spec.method == "full":
        weights = n_params * 16
    else:
        per_param = 0.56 if spec.method == "qlora" else 2 if spec.hyper.bf16 else 4
        weights = int(n_params * per_param + n_params * 0.01 * 16)
    # DPO's reference is the same base with the adapter switched off: no second copy of the weights.
    tokens = spec.hyper.batch_size * spec.hyper.max_length * (2 if spec.method in ("dpo", "kto") else 1)
    activations = 34 * tokens * hidden * layers
    if spec.hyper.gradient_checkpointing if checkpointing is None else checkpointing:
        activations //= max(layers, 1)
    return int(weights + activations)


def available_memory_bytes(device: str) -> int:
    """Free memory where the model will live."""
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free)
    return int(psutil.virtual_memory().available)


def choose_checkpointing(spec: TrainSpec, n_params: int, hidden: int, layers: int, free: int) -> bool:
    """Recompute activations only when keeping them would not fit comfortably (it costs ~20-30% of the speed)."""
    without = estimate_memory_bytes(spec, n_params, hidden, layers, checkpointing=False)
    return without > free * CHECKPOINTING_HEADROOM


def check_memory(spec: TrainSpec, model: Any, device: str) -> int:
    """Refuse jobs whose estimate exceeds free memory; returns the estimate in bytes.

    An unset `bf16` (native bf16 math here) and `gradient_checkpointing` (from the same estimate) are decided
    here and written into the spec, so the adapter's train_spec.json records what ran.
    """
    n_params = sum(p.numel() for p in model.parameters())
    cfg = model.config
    free = available_memory_bytes(device)
    if spec.hyper.bf16 is None:
        spec.hyper.bf16 = default_bf16(spec, device)
    if spec.hyper.gradient_checkpointing is None:
        spec.hyper.gradient_checkpointing = choose_checkpointing(
            spec, n_params, cfg.hidden_size, cfg.num_hidden_layers, free)
        log.info("gradient checkpointing %s (memory estimate)", "on" if spec.hyper.gradient_checkpointing else "off")
    need = estimate_memory_bytes(spec, n_params, cfg.hidden_size, cfg.num_hidden_layers)
    if need > free:
        raise PreflightError(
            f"Training {spec.base_model} ({n_params / 1e6:.0f}M params, method {spec.method}) needs about "
            f"{need / GIB:.1f} GiB but only {free / GIB:.1f} GiB is free on {device}; use qlora, a smaller "
            "batch_size/max_length, or a bigger machine."
        )
    return need
