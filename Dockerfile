# Two images from one file: `web` (gunicorn, and celery beat) holds requirements/base.txt only, as the web
# process never loads the model; `worker` (Celery, loads the model) adds requirements/ml.txt (TensorFlow).
# Neither holds the test tools (requirements/test.txt). docker-compose.yml builds each service's target.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SKINCLINIC_VAR_DIR=/app/var \
    STATIC_ROOT=/app/static \
    MEDIA_ROOT=/app/media

WORKDIR /app
# Pango and a font for WeasyPrint (the lesion's PDF report).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt
RUN useradd --create-home --uid 10001 skinclinic \
    && mkdir -p /app/var /app/media /app/audit /app/reference \
    && chown skinclinic /app/var /app/media /app/audit /app/reference

# The worker: TensorFlow installed before the code is copied, so a code change reuses this layer.
FROM base AS worker
COPY requirements/ml.txt requirements/ml.txt
RUN pip install -r requirements/ml.txt
COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && chown -R skinclinic /app/var
USER skinclinic
CMD ["celery", "-A", "skinclinic", "worker", "--concurrency", "1", "--loglevel", "INFO"]

# The web app, last so that a plain `docker build .` makes it.
FROM base AS web
COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && chown -R skinclinic /app/var
USER skinclinic
EXPOSE 8000
CMD ["gunicorn", "skinclinic.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
