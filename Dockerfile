# Two images from one file, each running the `moderation` CLI:
#   api     API, migrations and the other commands; the base install, no torch.
#   worker  the scoring stack too (CPU torch): workers, beat, `moderation models`.
# docker compose builds both; alone: `docker build --target api -t moderation-api .`.

FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODERATION_MODELS_DIR=/models MODERATION_DATA_DIR=/data \
    MODERATION_MIGRATIONS_DIR=/app/migrations
# A fixed uid so host folders can be prepared for it. The volume folders belong to it:
# a named volume takes the ownership of the folder it is first mounted on.
RUN groupadd --system --gid 10001 moderation \
    && useradd --system --uid 10001 --gid moderation --create-home moderation \
    && install -d -o moderation -g moderation /models /data
WORKDIR /app

# What both targets install, copied after torch so a code change keeps torch's layer.
FROM base AS source
COPY pyproject.toml README.md ./
COPY moderation ./moderation
COPY workers ./workers
COPY migrations ./migrations

FROM base AS api
COPY --from=source /app /app
RUN pip install .
USER moderation
EXPOSE 8000
CMD ["moderation", "api", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]

FROM base AS worker
# Torch first, from PyTorch's CPU index: PyPI's default torch is a multi-GB CUDA build,
# and `.[worker]`'s pin then finds it installed.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY --from=source /app /app
RUN pip install ".[worker]"
USER moderation
CMD ["moderation", "worker", "--wait-for-models"]
