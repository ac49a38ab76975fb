"""Which device, dtype and backend the settings resolve to, and the refusals in one line."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from moderation.config import Settings
from moderation.errors import DeviceUnavailable
from moderation.scoring import hardware
from moderation.scoring.hardware import Runtime, resolve

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


def test_cpu_runs_float32_eager_with_the_cpu_batching_defaults() -> None:
    runtime = resolve("cpu")
    assert runtime == Runtime("cpu", "float32", "torch")
    assert (hardware.default_batch(runtime), hardware.default_token_budget(runtime)) == (32, 512)


def test_the_int8_onnx_model_gets_a_smaller_token_budget_on_the_same_claims() -> None:
    runtime = resolve("cpu", backend="onnx")
    assert runtime == Runtime("cpu", "int8", "onnx")
    assert (hardware.default_batch(runtime), hardware.default_token_budget(runtime)) == (32, 256)


def test_a_gpu_gets_half_precision_weights_and_large_batches() -> None:
    runtime = Runtime("cuda:0", "bfloat16", "torch")
    assert runtime.on_gpu
    assert hardware.default_batch(runtime) == 512
    assert hardware.default_token_budget(runtime) == 65_536


@no_gpu
def test_auto_is_the_cpu_on_a_machine_without_a_gpu() -> None:
    assert resolve("auto") == Runtime("cpu", "float32", "torch")


@no_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_asking_for_a_gpu_on_a_machine_without_one_names_the_setting(device: str) -> None:
    with pytest.raises(DeviceUnavailable) as raised:
        resolve(device)
    message = raised.value.message
    assert message.startswith(f"MODERATION_TOXICITY_DEVICE={device} but this machine has no CUDA")
    assert "\n" not in message


def test_onnx_runs_on_the_cpu_in_int8_unless_told_float32() -> None:
    assert resolve("auto", backend="onnx") == Runtime("cpu", "int8", "onnx")
    assert resolve("cpu", "float32", "onnx") == Runtime("cpu", "float32", "onnx")
    with pytest.raises(DeviceUnavailable, match="the ONNX backend runs on CPU"):
        resolve("cuda", backend="onnx")
    with pytest.raises(DeviceUnavailable, match="not an ONNX export"):
        resolve("cpu", "bfloat16", "onnx")


def test_int8_needs_onnx_and_half_precision_needs_a_gpu() -> None:
    with pytest.raises(DeviceUnavailable, match="MODERATION_TOXICITY_BACKEND=onnx"):
        resolve("cpu", "int8")
    with pytest.raises(DeviceUnavailable, match="float16 needs a GPU"):
        resolve("cpu", "float16")


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu", "cuda:"])
def test_a_device_setting_that_names_no_device_fails_at_start(device: str) -> None:
    with pytest.raises(ValidationError, match="auto, cpu, cuda or cuda:N"):
        Settings(toxicity_device=device)


def test_settings_read_the_device_dtype_backend_and_batching(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODERATION_TOXICITY_DEVICE", " CUDA:1 ")
    monkeypatch.setenv("MODERATION_TOXICITY_DTYPE", "float16")
    monkeypatch.setenv("MODERATION_TOXICITY_BACKEND", "torch")
    monkeypatch.setenv("MODERATION_SCORING_TOKEN_BUDGET", "4096")
    settings = Settings()
    assert settings.toxicity_device == "cuda:1"
    assert settings.toxicity_dtype == "float16"
    assert settings.scoring_token_budget == 4096
    assert settings.scoring_batch is None  # the device's default


@no_gpu
def test_the_workers_start_check_refuses_what_resolve_refuses() -> None:
    with pytest.raises(DeviceUnavailable, match="no CUDA device"):
        hardware.check(Settings(toxicity_device="cuda"))
    with pytest.raises(DeviceUnavailable, match="needs a GPU"):
        hardware.check(Settings(toxicity_dtype="bfloat16"))
    hardware.check(Settings(toxicity_backend="onnx"))


def test_the_workers_start_check_leaves_cuda_unstarted_for_the_pool_it_forks() -> None:
    hardware.check(Settings(toxicity_device="auto"))
    assert not torch.cuda.is_initialized()


def test_which_onnx_export_the_settings_need() -> None:
    assert hardware.onnx_export("auto", "onnx") == "int8"
    assert hardware.onnx_export("float32", "onnx") == "float32"
    assert hardware.onnx_export("auto", "torch") is None
