# syntax=docker/dockerfile:1
# Multi-stage: build a wheel with its dependencies, then a slim non-root runtime.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip wheel
COPY pyproject.toml README.md ./
COPY app ./app
COPY mixers ./mixers
COPY store ./store
COPY migrations ./migrations
COPY mixopt ./mixopt
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim AS runtime
# libgomp: LightGBM's OpenMP runtime.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 mixopt
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER mixopt
ENV MIXOPT_DATA_DIR=/home/mixopt/data \
    PYTHONUNBUFFERED=1
VOLUME ["/home/mixopt/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# Listening on 0.0.0.0 turns auth on: create a token with `docker compose run mixopt mixopt token create`.
CMD ["mixopt", "serve", "--host", "0.0.0.0", "--port", "8000"]
