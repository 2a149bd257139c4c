# Image of the dataflow and the invsync command line, used by k8s/.
#   docker build -t invsync:0.1.0 .
# Bytewax 0.21.1 ships wheels for CPython 3.11 and 3.12 only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY invsync invsync
COPY dataflows dataflows
COPY operators operators
COPY sinks sinks
COPY sources sources
COPY schemas schemas
# Editable, because invsync.avro reads the .avsc files from /app/schemas next
# to the packages rather than from site-packages.
RUN pip install -e . \
    && useradd --uid 10001 --user-group --no-create-home invsync

USER 10001
# Ports: 2101 Bytewax cluster traffic, 3030 dataflow API with /metrics.
EXPOSE 2101 3030
CMD ["python", "-m", "bytewax.run", "dataflows.kafka_flow:get_flow()"]
