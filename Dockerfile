# Burgerwacht service image: one image for every role (web, worker, scheduler, migrate,
# sandbox); the role is the command, e.g. `docker run burgerwacht web --host 0.0.0.0`.
# Configuration comes from BURGERWACHT_* environment variables (see docker-compose.yml).
#
# The image installs the wheel: migrations, SQL functions, default configuration and
# demo data ship inside the package (burgerwacht/resources.py), so nothing runs from a
# source tree. The build stage makes the wheel; the final stage has only site-packages.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . /src
RUN pip wheel --no-deps --wheel-dir /dist .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian's PgBouncer: docker-compose.yml's pgbouncer service runs it from this image
RUN apt-get update \
    && apt-get install -y --no-install-recommends pgbouncer \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /dist /tmp/dist
RUN pip install /tmp/dist/burgerwacht-*.whl \
    && rm -rf /tmp/dist \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/burgerwacht --create-home \
        --shell /usr/sbin/nologin burgerwacht \
    && install -d -o burgerwacht -g burgerwacht /var/lib/burgerwacht/data /var/lib/burgerwacht/exports

ENV BURGERWACHT_DATA_DIR=/var/lib/burgerwacht/data \
    BURGERWACHT_SIGNALS__EXPORT_DIR=/var/lib/burgerwacht/exports

WORKDIR /var/lib/burgerwacht
USER burgerwacht:burgerwacht
EXPOSE 8080 8081
ENTRYPOINT ["burgerwacht"]
CMD ["--help"]
