# One image for the web app (gunicorn), the Celery worker and celery beat; docker-compose.yml runs all three.
FROM python:3.11-slim

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
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 skinclinic \
    && mkdir -p /app/var /app/media /app/audit /app/reference \
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && chown -R skinclinic /app/var /app/media /app/audit /app/reference
USER skinclinic

EXPOSE 8000
CMD ["gunicorn", "skinclinic.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
