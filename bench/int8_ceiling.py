"""How much faster this CPU multiplies matrices in int8 than in float32: the ceiling on
what the ONNX int8 worker can gain over the eager one.

Matrix products are most of the int8 model's time (`--profile` shows the share), so its
speed-up over eager float32 cannot pass theirs by much, however the rest is cut. This
times one product of bert-base's feed-forward shape (a micro-batch of the CPU token
budget's 512 tokens x 768 -> 3,072) in torch float32 (the eager worker's), ONNX Runtime
float32, and ONNX Runtime int8 with weights stored in each of the export's ways
(`INT8_SCHEMES`, quantised by the export's own `quantise`). The runtimes take turns,
best of 5 calls each a round, so that a shared machine's load falls on all of them
alike; each prints its median rate over the rounds and its median ratio to torch's in
the same rounds.

`--profile` also runs bench/scoring_bench.py's bert-base int8 export (built into its
cache on first use) over the bench's 128 comments in claims of 32, under ONNX Runtime's
profiler, and prints each operator's share of the kernel time.

    .venv/bin/python bench/int8_ceiling.py               # about 30 s on 2 cores
    .venv/bin/python bench/int8_ceiling.py --profile     # a few minutes more
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import agreement
import numpy as np
import onnx
import onnxruntime
import scoring_bench_text as text
import torch
from onnx import TensorProto, helper, numpy_helper
from scoring_bench_model import CACHE, NAME, models_folder, with_onnx_export

from moderation.scoring.hardware import CPU_TOKEN_BUDGET, Runtime
from moderation.scoring.onnx_export import FILES, INT8_SCHEMES, quantise
from moderation.scoring.toxicity import OnnxForward, ToxicityModel
from moderation.scoring.weights import Manifest, open_detoxify

HIDDEN, INNER = 768, 3072  # bert-base's feed-forward: two thirds of its multiplications


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="also profile the int8 model")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        products = runtimes(Path(scratch), args.threads)
        rates = timed(products, args.rounds)
    print(
        f"one matrix product, {CPU_TOKEN_BUDGET} x {HIDDEN} -> {INNER}, {args.threads} "
        f"threads, median of {args.rounds} rounds (best of 5 calls each):"
    )
    print(f"| {'runtime':<24} | {'G op/s':>7} | {'quartiles':>13} | {'vs torch':>8} |")
    print(f"|{'-' * 26}|{'-' * 9}|{'-' * 15}|{'-' * 10}|")
    base = rates["torch float32"]
    for label, found in rates.items():
        low, high = np.percentile(found, [25, 75])
        ratio = statistics.median(a / b for a, b in zip(found, base, strict=True))
        print(
            f"| {label:<24} | {statistics.median(found):>7.1f} | {low:>6.1f}-{high:>6.1f} "
            f"| {ratio:>7.2f}x |"
        )
    if args.profile:
        profile(args.cache, args.threads)


def runtimes(scratch: Path, threads: int) -> dict[str, Callable[[], Any]]:
    """Each runtime's product of the same input and weights, ready to call."""
    rng = np.random.default_rng(20240611)
    weights = (rng.standard_normal((HIDDEN, INNER)) * 0.02).astype(np.float32)
    inputs = rng.standard_normal((CPU_TOKEN_BUDGET, HIDDEN)).astype(np.float32)
    x, w = torch.from_numpy(inputs), torch.from_numpy(weights)
    float32 = scratch / "float32.onnx"
    onnx.save(_one_product(weights), float32)
    found: dict[str, Callable[[], Any]] = {"torch float32": lambda: x @ w}
    found["onnx float32"] = _run(OnnxForward(float32, threads).session, inputs)
    for scheme in INT8_SCHEMES:
        path = scratch / f"{scheme.name}.onnx"
        quantise(float32, path, scheme)
        found[f"onnx int8, {scheme.name}"] = _run(OnnxForward(path, threads).session, inputs)
    return found


def _one_product(weights: np.ndarray[Any, Any]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["activations", "weights"], ["product"])],
        "product",
        [helper.make_tensor_value_info("activations", TensorProto.FLOAT, ["tokens", HIDDEN])],
        [helper.make_tensor_value_info("product", TensorProto.FLOAT, ["tokens", INNER])],
        [numpy_helper.from_array(weights, "weights")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(session: Any, inputs: np.ndarray[Any, Any]) -> Callable[[], Any]:
    return lambda: session.run(["product"], {"activations": inputs})


def timed(products: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Each runtime's rate (G multiply-adds x 2 a second) in each round, taking turns."""
    operations = 2 * CPU_TOKEN_BUDGET * HIDDEN * INNER
    rates: dict[str, list[float]] = {label: [] for label in products}
    for _ in range(rounds):
        for label, product in products.items():
            product()
            seconds = []
            for _ in range(5):
                started = time.perf_counter()
                product()
                seconds.append(time.perf_counter() - started)
            rates[label].append(operations / min(seconds) / 1e9)
    return rates


def profile(cache: Path, threads: int) -> None:
    """The bench's bert-base int8 model's kernel time by operator."""
    models = models_folder(cache)
    print("\nbench/scoring_bench.py's bert-base model:")
    with_onnx_export(models)
    entry = models / NAME
    forward = OnnxForward(entry / FILES["int8"], threads)
    # The worker's session options (threads, no spinning), with the profiler on.
    options = forward.session.get_session_options()
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as scratch:
        options.profile_file_prefix = str(Path(scratch) / "int8")
        forward.session = onnxruntime.InferenceSession(
            str(entry / FILES["int8"]), options, providers=["CPUExecutionProvider"]
        )
        runtime = Runtime("cpu", "int8", "onnx")
        tokenizer = open_detoxify(entry).tokenizer
        model = ToxicityModel(tokenizer, forward, Manifest.read(entry), runtime)
        agreement.scores(model, text.comments(random.Random(20240611), 128))
        events = json.loads(Path(forward.session.end_profiling()).read_text())
    kernels: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            kernels[event["args"]["op_name"]] += event["dur"]
    total = sum(kernels.values())
    print(f"the int8 export's kernel time over 128 comments in claims of 32: {total / 1e6:.2f} s")
    for operator, microseconds in kernels.most_common(10):
        print(f"  {operator:<28} {microseconds / 1e6:6.2f} s  {microseconds / total:6.1%}")


if __name__ == "__main__":
    main()
