#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/ (small, hand-made valid inputs).

Audio seeds are written through libsndfile (ctypes) so that WAV, FLAC and OGG/Vorbis all appear;
request seeds are encoded with protoc --encode from text format. Run from the repository root:
    python3 tests/fuzz/make_seeds.py
"""
import ctypes
import ctypes.util
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


class SF_INFO(ctypes.Structure):
    _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int), ("channels", ctypes.c_int),
                ("format", ctypes.c_int), ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]


def audio_seeds():
    lib = ctypes.CDLL(ctypes.util.find_library("sndfile") or "libsndfile.so.1")
    lib.sf_open.restype = ctypes.c_void_p
    lib.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(SF_INFO)]
    lib.sf_writef_float.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
    lib.sf_close.argtypes = [ctypes.c_void_p]
    SFM_WRITE = 0x20
    seeds = [  # name, container | encoding, rate, channels, frames
        ("pcm16_mono_8k.wav", 0x010000 | 0x0002, 8000, 1, 64),
        ("float_stereo_24k.wav", 0x010000 | 0x0006, 24000, 2, 48),
        ("u8_mono_16k.wav", 0x010000 | 0x0005, 16000, 1, 80),
        ("pcm16_mono_16k.flac", 0x170000 | 0x0002, 16000, 1, 160),
        ("pcm24_stereo_48k.flac", 0x170000 | 0x0003, 48000, 2, 96),
        ("vorbis_mono_22k.ogg", 0x200000 | 0x0060, 22050, 1, 256),
    ]
    os.makedirs(CORPUS, exist_ok=True)
    tmp = os.path.join(CORPUS, ".tmp_audio")
    for name, fmt, rate, channels, frames in seeds:
        info = SF_INFO(0, rate, channels, fmt, 0, 0)
        f = lib.sf_open(tmp.encode(), SFM_WRITE, ctypes.byref(info))
        if not f:
            sys.exit("libsndfile cannot write " + name)
        buf = (ctypes.c_float * (frames * channels))()
        for i in range(frames):
            for c in range(channels):
                buf[i * channels + c] = 0.5 * math.sin(2 * math.pi * 440 * (c + 1) * i / rate)
        lib.sf_writef_float(f, buf, frames)
        lib.sf_close(f)
        with open(tmp, "rb") as t:
            write("fuzz_audio_decode", name, t.read())
        os.remove(tmp)


def request_seeds():
    # Byte 0 picks the model: 0 CustomVoice, 1 VoiceDesign, 2 Base (+4: non-streaming default).
    # Ids: <|im_start|>=151644 assistant=77091 \n=198, text, <|im_end|>=151645 \n <|im_start|> assistant \n.
    ids = "input_ids: [151644, 77091, 198, 9707, 1879, 151645, 198, 151644, 77091, 198]"
    frames = "".join("ref_frames { codes: [%s] } " % ", ".join(str((7 * f + g) % 2048) for g in range(16))
                     for f in range(2))
    texts = {
        "customvoice": (0, ids + ' speaker: "vivian" language: "english" options { seed: 1 max_frames: 2 }'),
        "customvoice_instruct": (4, ids + ' instruct_ids: [151644, 872, 198, 9707, 151645, 198] speaker: "dylan"'),
        "voicedesign": (1, ids + ' instruct_ids: [151644, 872, 198, 9707, 151645, 198] non_streaming_mode: true'
                               ' options { do_sample: true temperature: 0.7 top_k: 5 top_p: 0.9 }'),
        "base_icl": (2, ids + " speaker_embedding: [%s]" % ", ".join(["0.1"] * 48) +
                     " ref_ids: [151644, 77091, 198, 9707, 151645, 198] " + frames),
    }
    for name, (selector, text) in texts.items():
        out = subprocess.run(["protoc", "--proto_path=" + os.path.join(ROOT, "proto"),
                              "--encode=qwen3tts.v1.GenerateRequest", "qwen3tts/v1/talker.proto"],
                             input=text.encode(), capture_output=True, check=True).stdout
        write("fuzz_talker_request", name + ".pb", bytes([selector]) + out)


def text_seeds():
    # Byte 0: 1 = parse special tokens.
    write("fuzz_text_tokenizer", "plain", b"\x00Hello, world! It's 2026.")
    write("fuzz_text_tokenizer", "chat", b"\x01<|im_start|>assistant\nHi there<|im_end|>\n")
    write("fuzz_text_tokenizer", "unicode", "\x00你好，世界 — café ñ Ω 🎉  \t\n 123456".encode())
    write("fuzz_text_tokenizer", "combining", "\x01e\u0301 \u212b <|im_end|>\u0301".encode())
    write("fuzz_text_tokenizer", "invalid_utf8", b"\x00ab\xc3\x28 \xed\xa0\x80 \xff")


def flags_seeds():
    write("fuzz_service_flags", "full.yaml",
          "model_dir: /models/tiny\nlisten: 0.0.0.0:50051\ndtype: bfloat16\nthreads: 4\n"
          "max_batch: 16\ntemperature: 0.7\ntimeout_s: 2.5e1\njson_logs: true\n")
    write("fuzz_service_flags", "minimal.yaml", "listen: unix:/tmp/x.sock\n")
    write("fuzz_service_flags", "flow.yaml", "{listen: ':1', threads: 0x10, json_logs: yes, dtype: float32}\n")
    write("fuzz_service_flags", "anchors.yaml", "---\nlisten: &a ':8080'\nmodel_dir: *a\n# comment\n...\n")
    write("fuzz_service_flags", "bad_nested.yaml", "listen:\n  - a\n  - {b: c}\n")


def tensor_seeds():
    # fuzz_safetensors_header: 8 bytes (big-endian pretend data size) + header JSON.
    header = ('{"__metadata__":{"format":"pt"},'
              '"a.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},'
              '"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},'
              '"c":{"dtype":"I64","shape":[],"data_offsets":[32,40]}}')
    write("fuzz_safetensors_header", "three_tensors", (40).to_bytes(8, "big") + header.encode())
    write("fuzz_safetensors_header", "empty", (0).to_bytes(8, "big") + b"{}")
    # fuzz_model_config: the tiny golden configs.
    golden = os.environ.get("QWEN3TTS_GOLDEN_DIR", os.path.join(ROOT, "..", "shared", "golden"))
    model = os.path.join(golden, "models", "tiny-customvoice")
    for src, name in [("config.json", "config.json"), ("generation_config.json", "generation_config.json"),
                      ("speech_tokenizer/config.json", "speech_tokenizer_config.json")]:
        with open(os.path.join(model, src), "rb") as f:
            write("fuzz_model_config", name, f.read())


if __name__ == "__main__":
    tensor_seeds()
    audio_seeds()
    request_seeds()
    text_seeds()
    flags_seeds()
