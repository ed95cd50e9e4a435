"""google-genai instrumented by the OTel contrib ``opentelemetry-instrumentation-google-genai``, calls G1-G3.

    cd /work/main && /tmp/capture/venv-google-genai/bin/python -m tests.corpus._capture.google_genai

Needs ``tests.corpus._capture.provider_gemini --port 8903`` and ``tests.corpus._capture.receiver OUT --port 4320``.
Gemini Developer API (not Vertex), the instrumentor's defaults (no env vars); the SDK's default is no retries.
"""

from __future__ import annotations

from google import genai
from google.genai import errors, types
from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

from tests.corpus._capture import frameworks_otel as otel

PROMPT = "When does order 8812 ship?"
CONFIG = types.GenerateContentConfig(temperature=0.2, max_output_tokens=1024)


def main() -> None:
    providers = otel.setup()
    GoogleGenAiSdkInstrumentor().instrument()
    client = genai.Client(api_key="fake-gemini-key", http_options=types.HttpOptions(base_url="http://127.0.0.1:8903"))
    with otel.session(providers[0]):
        client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT, config=CONFIG)
        for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT, config=CONFIG):
            pass
        try:
            client.models.generate_content(model="gemini-2.5-pro", contents=PROMPT, config=CONFIG)
        except errors.ClientError as error:
            print("G3 raised", type(error).__name__, error.code, error.status)
    otel.shutdown(*providers)


if __name__ == "__main__":
    main()
