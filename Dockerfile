# Burgerwacht service image: one image for every role (web, worker, scheduler, migrate,
# sandbox); the role is the command, e.g. `docker run burgerwacht web --host 0.0.0.0`.
# Configuration comes from BURGERWACHT_* environment variables (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app

RUN pip install . \
    && rm -rf build burgerwacht.egg-info \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/burgerwacht --create-home \
        --shell /usr/sbin/nologin burgerwacht \
    && install -d -o burgerwacht -g burgerwacht /var/lib/burgerwacht/data /var/lib/burgerwacht/exports

# The service reads sql/ (migrations) and config/ (default.toml, messages.toml, demo data)
# beside the package, so the package is imported from /app rather than site-packages
# (pip install . still provides the dependencies and the `burgerwacht` command).
ENV PYTHONPATH=/app \
    BURGERWACHT_DATA_DIR=/var/lib/burgerwacht/data \
    BURGERWACHT_SIGNALS__EXPORT_DIR=/var/lib/burgerwacht/exports

USER burgerwacht:burgerwacht
EXPOSE 8080 8081
ENTRYPOINT ["burgerwacht"]
CMD ["--help"]
