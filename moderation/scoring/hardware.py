"""Where and how a worker runs its toxicity models: device, weights' dtype, backend, and
the batching defaults that suit them.

`MODERATION_TOXICITY_DEVICE` is `auto` (CUDA when torch sees a GPU, else CPU), `cpu`,
`cuda` or `cuda:N`; `MODERATION_TOXICITY_BACKEND` is `torch` (eager PyTorch, any device)
or `onnx` (ONNX Runtime, CPU only, from `moderation models export-onnx`);
`MODERATION_TOXICITY_DTYPE` picks the weights' precision. `resolve` turns the settings
into one `Runtime` or refuses with a single line naming the setting to change, so a
worker asked for a GPU it does not have stops at start instead of scoring on the CPU
at a tenth of the speed it was sized for.

Batching defaults per device, measured with bench/ (see the README's capacity table):
- CPU, eager: a forward pass runs near its best speed per token from about 512 tokens,
  padding included, so micro-batches fill a 512-token budget; claims of 32 keep a claim's
  latency under a few seconds on two cores.
- CPU, ONNX int8: the same claims, but a 256-token budget. End to end on an AVX2 CPU the
  int8 worker scored 18-30% more comments a second with it, whichever ran first; in
  process it ran 8-15% faster on AVX2 and AVX-512 VNNI CPUs (eager gained nothing).
- CUDA: a GPU needs thousands of tokens in flight to be busy: claims of 512 comments and
  a 65,536-token budget, in float16 weights. On an H200 (bench/gpu_bench.py) float16 and
  bfloat16 ran at the same speed, 14x raw `Detoxify.predict` at batch 32, and float16
  moved scores a tenth as far from float32's (at most 0.0010 against 0.0103, on a BERT
  trained to spread its scores); claim sizes of 128-1024 and budgets of 16-131k tokens
  were measured around these, and a worker's full path is held by its CPU work there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from moderation.config import CPU_SCORING_BATCH, Settings, ToxicityBackend, ToxicityDtype
from moderation.errors import DeviceUnavailable

CPU_BATCH = CPU_SCORING_BATCH
CPU_TOKEN_BUDGET = 512
ONNX_TOKEN_BUDGET = 256
GPU_BATCH = 512
GPU_TOKEN_BUDGET = 65_536


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a toxicity model runs on; stored with every score it gives."""

    device: str  # "cpu", "cuda:0", ...
    dtype: str  # "float32", "bfloat16", "float16", "int8"
    backend: ToxicityBackend

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def describe(self) -> str:
        return f"{self.backend} {self.dtype} on {self.device}"


def from_settings(settings: Settings) -> Runtime:
    """The runtime the settings ask for, on this machine; `DeviceUnavailable` if impossible."""
    return resolve(settings.toxicity_device, settings.toxicity_dtype, settings.toxicity_backend)


def check(settings: Settings) -> None:
    """Raise `DeviceUnavailable` for what `from_settings` would refuse, without starting
    CUDA: `moderation worker` checks before Celery forks its pool, and a process that
    forks after starting CUDA leaves children that cannot use the GPU. (Only whether the
    GPU has bfloat16, when asked for, is left to the pool processes.)"""
    device = _device(settings.toxicity_device, settings.toxicity_backend)
    _check_dtype(device, settings.toxicity_dtype, settings.toxicity_backend)


def resolve(
    device: str, dtype: ToxicityDtype = "auto", backend: ToxicityBackend = "torch"
) -> Runtime:
    """The runtime for a device (auto|cpu|cuda|cuda:N), dtype and backend on this machine."""
    chosen = _device(device, backend)
    _check_dtype(chosen, dtype, backend)
    on_gpu = chosen.startswith("cuda")
    export = onnx_export(dtype, backend)
    if export:
        return Runtime(chosen, export, backend)
    if dtype == "auto":
        return Runtime(chosen, "float16" if on_gpu else "float32", backend)
    if dtype == "bfloat16" and not has_bfloat16(chosen):
        raise DeviceUnavailable(f"{chosen} does not support bfloat16; use float16")
    return Runtime(chosen, dtype, backend)


def onnx_export(dtype: ToxicityDtype, backend: ToxicityBackend) -> str | None:
    """Which ONNX export (int8 or float32) the settings need; None for the torch backend."""
    if backend != "onnx":
        return None
    return "int8" if dtype == "auto" else dtype


def _check_dtype(device: str, dtype: ToxicityDtype, backend: ToxicityBackend) -> None:
    if backend == "onnx":
        if dtype not in ("auto", "int8", "float32"):
            raise DeviceUnavailable(
                f"MODERATION_TOXICITY_DTYPE={dtype} is not an ONNX export: use int8 or float32"
            )
    elif dtype == "int8":
        raise DeviceUnavailable(
            "MODERATION_TOXICITY_DTYPE=int8 runs on ONNX Runtime: set "
            "MODERATION_TOXICITY_BACKEND=onnx (after `moderation models export-onnx NAME --int8`)"
        )
    elif dtype in ("bfloat16", "float16") and not device.startswith("cuda"):
        # PyTorch's CPU kernels for half-precision weights are slower than float32's on
        # most CPUs; on CPU, ONNX Runtime's int8 is the faster lower precision.
        raise DeviceUnavailable(
            f"MODERATION_TOXICITY_DTYPE={dtype} needs a GPU; on CPU use float32, or int8 "
            "with MODERATION_TOXICITY_BACKEND=onnx"
        )


def default_batch(runtime: Runtime) -> int:
    """Comments per claim when MODERATION_SCORING_BATCH is not set."""
    return GPU_BATCH if runtime.on_gpu else CPU_BATCH


def default_token_budget(runtime: Runtime) -> int:
    """Tokens per forward pass, padding included, when MODERATION_SCORING_TOKEN_BUDGET is
    not set."""
    if runtime.on_gpu:
        return GPU_TOKEN_BUDGET
    return ONNX_TOKEN_BUDGET if runtime.backend == "onnx" else CPU_TOKEN_BUDGET


def torch_dtype(name: str) -> torch.dtype:
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    return dtypes[name]


def _device(device: str, backend: ToxicityBackend) -> str:
    if backend == "onnx":
        if device.startswith("cuda"):
            raise DeviceUnavailable(
                f"MODERATION_TOXICITY_DEVICE={device} with MODERATION_TOXICITY_BACKEND=onnx: "
                "the ONNX backend runs on CPU; use the torch backend on a GPU"
            )
        return "cpu"
    # device_count asks NVML where it can, which unlike is_available starts no CUDA.
    count = torch.cuda.device_count()
    if device == "auto":
        return "cuda:0" if count > 0 else "cpu"
    if device == "cpu":
        return device
    if count == 0:
        build = f"torch {torch.__version__}" + (
            "" if torch.version.cuda else ", built without CUDA"
        )
        raise DeviceUnavailable(
            f"MODERATION_TOXICITY_DEVICE={device} but this machine has no CUDA device ({build}); "
            "set it to cpu or auto"
        )
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        raise DeviceUnavailable(
            f"MODERATION_TOXICITY_DEVICE={device} but this machine has {count} CUDA "
            f"device(s): cuda:0 to cuda:{count - 1}"
        )
    return f"cuda:{index}"


def has_bfloat16(device: str) -> bool:
    """Whether the GPU `device` computes in bfloat16 (Ampere and later)."""
    with torch.cuda.device(device):
        return bool(torch.cuda.is_bf16_supported())
