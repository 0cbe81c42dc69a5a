"""A small blocking client: synthesize text to PCM / a WAV file, list speakers and voices."""

import dataclasses
import struct
import time
import wave
from typing import Iterator, List, Optional

import grpc

from qwen3tts.v1 import tts_pb2, tts_pb2_grpc


@dataclasses.dataclass
class SynthesisResult:
    pcm16: bytes  # mono 16-bit little-endian samples
    sample_rate: int
    frames: int
    time_to_first_audio: float  # seconds, measured by the client

    def write_wav(self, path: str) -> None:
        with wave.open(path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(self.pcm16)


class TtsClient:
    def __init__(self, target: str, timeout: float = 300.0):
        self._channel = grpc.insecure_channel(target)
        self._stub = tts_pb2_grpc.TextToSpeechStub(self._channel)
        self._timeout = timeout

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _config(self, speaker, design, voice_id, reference_audio, reference_text, x_vector_only, instruct,
                language, seed, greedy, max_seconds):
        config = tts_pb2.SynthesisConfig(language=language or "auto")
        config.audio.encoding = tts_pb2.PCM_S16LE
        if speaker:
            config.voice.speaker = speaker
        elif design:
            config.voice.design = design
        elif voice_id:
            config.voice.voice_id = voice_id
        elif reference_audio is not None:
            config.voice.reference.audio = reference_audio
            config.voice.reference.text = reference_text or ""
            config.voice.reference.x_vector_only = x_vector_only
        if instruct:
            config.voice.instruct = instruct
        if seed is not None:
            config.sampling.seed = seed
        config.sampling.greedy = greedy
        config.max_duration_seconds = max_seconds
        return config

    def synthesize(self, text: str, *, speaker: Optional[str] = None, design: Optional[str] = None,
                   voice_id: Optional[str] = None, reference_audio: Optional[bytes] = None,
                   reference_text: Optional[str] = None, x_vector_only: bool = False, instruct: str = "",
                   language: str = "auto", seed: Optional[int] = None, greedy: bool = False,
                   max_seconds: float = 0.0) -> SynthesisResult:
        """Synthesizes `text`; raises grpc.RpcError with the server's status on failure."""
        request = tts_pb2.SynthesizeRequest(text=text, config=self._config(
            speaker, design, voice_id, reference_audio, reference_text, x_vector_only, instruct, language, seed,
            greedy, max_seconds))
        start = time.monotonic()
        first = None
        chunks: List[bytes] = []
        sample_rate = 24000
        frames = 0
        for response in self._stub.Synthesize(request, timeout=self._timeout):
            kind = response.WhichOneof("response")
            if kind == "metadata":
                sample_rate = response.metadata.sample_rate_hertz
            elif kind == "audio" and response.audio.data:
                if first is None:
                    first = time.monotonic() - start
                chunks.append(response.audio.data)
            elif kind == "summary":
                frames = response.summary.frames
        return SynthesisResult(b"".join(chunks), sample_rate, frames, first if first is not None else 0.0)

    def stream_text(self, pieces: Iterator[str], **voice) -> Iterator[bytes]:
        """StreamingSynthesize: yields PCM16 chunks while `pieces` (e.g. from an LLM) are still coming."""
        config = self._config(voice.get("speaker"), voice.get("design"), voice.get("voice_id"), None, None, False,
                              voice.get("instruct", ""), voice.get("language", "auto"), voice.get("seed"),
                              voice.get("greedy", False), voice.get("max_seconds", 0.0))

        def requests():
            yield tts_pb2.StreamingSynthesizeRequest(config=config)
            for piece in pieces:
                yield tts_pb2.StreamingSynthesizeRequest(text=piece)

        for response in self._stub.StreamingSynthesize(requests(), timeout=self._timeout):
            if response.WhichOneof("response") == "audio" and response.audio.data:
                yield response.audio.data

    def speakers(self) -> List[str]:
        return [s.name for s in self._stub.ListSpeakers(tts_pb2.ListSpeakersRequest(), timeout=self._timeout).speakers]

    def model_info(self):
        return self._stub.GetModelInfo(tts_pb2.GetModelInfoRequest(), timeout=self._timeout)


def pcm16_peak(pcm16: bytes) -> int:
    """Largest absolute sample value (0..32767) of PCM16 audio."""
    if not pcm16:
        return 0
    samples = struct.unpack("<%dh" % (len(pcm16) // 2), pcm16)
    return max(abs(s) for s in samples)
