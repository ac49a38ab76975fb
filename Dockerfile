# The service image: API, migrations, workers and beat all run this image's `moderation` CLI.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The CPU build of torch, pinned: PyPI's default torch is a multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY moderation ./moderation
COPY workers ./workers
COPY migrations ./migrations
RUN pip install -e .

# Model weights are artifacts, never downloaded by a running worker: mount a models
# folder here (see README, "Model weights").
ENV MODERATION_MODELS_DIR=/models MODERATION_MIGRATIONS_DIR=/app/migrations
RUN useradd --system --home /app moderation
USER moderation
EXPOSE 8000
CMD ["moderation", "api", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
