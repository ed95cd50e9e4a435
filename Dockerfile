# LLM Cost Tracker: the exporter and webhook receiver (`serve`), and the traffic simulator.
#
#   docker build -t llm-cost-tracker .
#   docker run -p 4318:4318 -p 9464:9464 llm-cost-tracker serve --otlp.listen-address 0.0.0.0:4318 \
#     --web.listen-address 0.0.0.0:9464
#
# Two stages: the first compiles the hot path with mypyc into a wheel (it needs a C compiler), the
# second installs that wheel on a slim base and runs as an unprivileged user.
ARG PYTHON=python:3.12.8-slim-bookworm

FROM ${PYTHON} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py mypyc.ini README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[simulate]'

FROM ${PYTHON}
LABEL org.opencontainers.image.title="llm-cost-tracker" \
      org.opencontainers.image.description="Prometheus-native cost tracker for LLM calls" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels 'llm-cost-tracker[simulate]' \
 && rm -rf /wheels \
 && useradd --system --uid 10001 --home-dir /var/lib/llm-cost-tracker --create-home llm-cost-tracker
USER llm-cost-tracker
WORKDIR /var/lib/llm-cost-tracker
EXPOSE 4318 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/-/ready', timeout=2)"]
ENTRYPOINT ["llm-cost-tracker"]
CMD ["serve", "--otlp.listen-address", "0.0.0.0:4318", "--web.listen-address", "0.0.0.0:9464"]
