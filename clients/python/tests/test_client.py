"""Python client against a real `qwen3-tts serve` on loopback (started and stopped by the test)."""

import os
import re
import subprocess
import sys
import tempfile
import unittest
import wave

import grpc

from qwen3tts_client import TtsClient
from qwen3tts_client.client import pcm16_peak

CLI = os.environ["QWEN3TTS_CLI"]
GOLDEN = os.environ.get("QWEN3TTS_GOLDEN_DIR") or os.environ["QWEN3TTS_DEFAULT_GOLDEN_DIR"]


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        model = os.path.join(GOLDEN, "models", "tiny-customvoice")
        cls.server = subprocess.Popen([CLI, "serve", "--model-dir", model, "--listen", "127.0.0.1:0", "--threads", "1"],
                                      stdout=subprocess.PIPE, text=True)
        for line in cls.server.stdout:
            match = re.search(r"listening on (\S+)", line)
            if match:
                cls.address = match.group(1)
                break
        else:
            raise RuntimeError("qwen3-tts serve did not start")

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=30)

    def test_synthesize_to_wav(self):
        with TtsClient(self.address) as client:
            self.assertIn("ryan", client.speakers())
            self.assertEqual(client.model_info().variant, "custom_voice")
            result = client.synthesize("Hello from Python.", speaker="Ryan", language="English", greedy=True,
                                       max_seconds=1.0)
        self.assertGreater(result.frames, 0)
        self.assertEqual(len(result.pcm16), result.frames * 1920 * 2)
        self.assertGreater(pcm16_peak(result.pcm16), 0)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.wav")
            result.write_wav(path)
            with wave.open(path) as w:
                self.assertEqual(w.getframerate(), 24000)
                self.assertEqual(w.getnframes(), result.frames * 1920)

    def test_streaming_text(self):
        with TtsClient(self.address) as client:
            chunks = list(client.stream_text(iter(["Text that ", "arrives ", "in pieces."]), speaker="serena",
                                             greedy=True, max_seconds=1.0))
        self.assertTrue(chunks)
        # The first chunk is one frame (1920 samples of PCM16); later chunks hold one frame or every
        # frame that arrived while the vocoder was busy.
        self.assertEqual(len(chunks[0]), 1920 * 2)
        self.assertTrue(all(len(c) > 0 and len(c) % (1920 * 2) == 0 for c in chunks))

    def test_errors_name_the_field(self):
        with TtsClient(self.address) as client:
            with self.assertRaises(grpc.RpcError) as caught:
                client.synthesize("Hi.", speaker="nobody")
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("config.voice.speaker", caught.exception.details())

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "cli.wav")
            done = subprocess.run([sys.executable, "-m", "qwen3tts_client", "--server", self.address, "--text", "Hi.",
                                   "--speaker", "vivian", "--greedy", "--max-seconds", "0.5", "--out", out],
                                  capture_output=True, text=True, env=os.environ)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertTrue(os.path.getsize(out) > 44)


if __name__ == "__main__":
    unittest.main()
