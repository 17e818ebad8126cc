# facesearch serve: the REST API and web UI. The gallery's tables live in PostgreSQL (see
# compose.yaml); the home folder /data keeps the wrapped data key and any local index files.
# Build: docker build -t facesearch .   (the dlib models ship in the face_recognition_models wheel:
# nothing is downloaded at run time)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FACESEARCH_HOME=/data

# libgomp1: OpenMP for FAISS and ONNX Runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/facesearch
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
# The service and PostgreSQL extras, at the versions the tests last passed with (constraints.txt)
RUN pip install -c constraints.txt '.[server,postgres]'

# /home/facesearch/.config/facesearch: a person's credentials file, in a volume of their own (docs/docker.md)
RUN useradd --system --create-home --home-dir /home/facesearch facesearch \
    && mkdir -p /data /home/facesearch/.config/facesearch \
    && chmod 700 /home/facesearch/.config/facesearch \
    && chown facesearch:facesearch /data \
    && chown -R facesearch:facesearch /home/facesearch/.config
USER facesearch
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/openapi.json', timeout=4)"

# Inside the container the service listens on all of the container's interfaces; compose.yaml
# publishes it on the host's 127.0.0.1 only. Put a TLS-terminating proxy in front of it.
ENTRYPOINT ["facesearch"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
