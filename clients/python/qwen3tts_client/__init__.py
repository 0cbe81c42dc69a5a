"""Python client for the qwen3-tts-serving gateway (qwen3tts.v1.TextToSpeech).

Uses Debian's python3-grpcio / python3-protobuf and stubs generated from proto/qwen3tts/v1 by the
build (build/clients/python/generated; see clients/python/README.md).
"""

from qwen3tts_client.client import SynthesisResult, TtsClient

__all__ = ["SynthesisResult", "TtsClient"]
