# The tracker image used by docker-compose.yml: the package and its dependencies, run as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tracker ./tracker
COPY dashboards ./dashboards
RUN pip install . && useradd --create-home --uid 10001 tracker
USER tracker
EXPOSE 8000
CMD ["tracker", "run", "--host", "0.0.0.0", "--port", "8000"]
