# The operator image: `jupyter-cloudtty operator` (kopf), as the Helm chart runs it.
#
#   docker build -f deploy/image/operator.Dockerfile -t <registry>/operator:<tag> .
#
# Built from this repository (the build context is its root).
FROM python:3.12-slim

COPY pyproject.toml README.md /src/
COPY jupyter_cloudtty /src/jupyter_cloudtty
COPY jupyter-config /src/jupyter-config
RUN pip install --no-cache-dir "/src[operator]" && rm -rf /src

RUN useradd --uid 1000 --no-create-home operator
USER 1000
EXPOSE 8080
ENTRYPOINT ["jupyter-cloudtty"]
CMD ["operator", "--all-namespaces"]
