#!/usr/bin/python3
"""Benchmark harness for qwen3-tts-serving (driven by bench/run.sh, which builds the tools first).

Measures, per model shape and talker precision:
  * per-frame milliseconds of the talker, the code predictor (qwen3tts-bench-talker; EOS suppressed, so
    every run generates exactly --frames frames) and the speech-tokenizer decoder (qwen3tts-bench-codec-
    decoder, streaming one frame per call on one thread, as the vocoder stage runs; int8 and int4 rows pair the
    talker with the int8 vocoder, int4-g128 with the int4-g128 one (bfloat16 / int8 convolutions), float32
    and bfloat16 rows use the float32 vocoder: VOCODER_DTYPE), beside the decoder's own bound there: the
    weights a call reads over one thread's read bandwidth;
  * frames/s, real-time factor (one frame = 80 ms of audio) and peak RSS of the talker bench;
  * the memory-bandwidth bound: weight bytes streamed per frame (talker layers, final norm and codec head
    in that precision, plus the code predictor counted once, as if it stayed in the last-level cache),
    read from the checkpoint header, divided by the bandwidth measured by qwen3tts-bench-bandwidth;
  * time to first audio through `qwen3-tts serve` (all stages in one process, in-process channel) and
    through the split deployment (talker, vocoder and gateway processes over loopback gRPC);
and a concurrency sweep through the gateway with qwen3-tts-load per precision (levels alternating in rounds,
each level's ratio to one stream taken within a round; the fastest precision is the headline one, with
--sweep-rounds rounds, the others --sweep-other-rounds), and the accuracy cost of bfloat16, int8, int4 and int4-g128
weights against float32 on the golden cases (qwen3tts-bench-precision, $QWEN3TTS_GOLDEN_DIR or
../shared/golden beside the checkout; skipped without it). The gRPC API cannot suppress EOS, so
serving runs use a fixed max_duration and report the frames actually generated per request.

Writes OUT/results.json, OUT/concurrency.png (python3-matplotlib) and OUT/summary.md, prints tables.
Only the Python standard library and matplotlib are used.
"""

import argparse
import json
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

FRAME_SECONDS = 0.08  # 12.5 frames per second of audio
PRECISIONS = ("float32", "bfloat16", "int8", "int4", "int4-g128")  # the talker's weight precisions
SERVER_PIDS_FILE = os.environ.get("QWEN3TTS_BENCH_PIDS", "")


def log(message):
    print("[harness %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


class Failure(Exception):
    pass


def _terminate(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


# ------------------------------------------------------------------------------------------------
# Processes


def run_tool(cmd, timeout, rss=False):
    """Runs a tool to completion; returns (stdout, peak RSS in bytes or None). Raises Failure."""
    rss_file = None
    if rss:
        fd, rss_file = tempfile.mkstemp(prefix="qwen3tts-bench-time-")
        os.close(fd)
        cmd = ["/usr/bin/time", "-v", "-o", rss_file] + cmd
    log("run: " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("timed out after %d s: %s" % (timeout, " ".join(cmd)))
    peak = None
    if rss_file:
        with open(rss_file) as f:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
        os.unlink(rss_file)
        peak = int(m.group(1)) * 1024 if m else None
    if proc.returncode != 0:
        raise Failure("exit %d: %s\n%s" % (proc.returncode, " ".join(cmd), proc.stderr[-2000:]))
    return proc.stdout, peak


class Server:
    """A stage process in its own session; stop() sends SIGTERM, then SIGKILL after a grace period."""

    def __init__(self, name, cmd, log_dir):
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log_file = open(self.log_path, "w")
        log("start %s: %s" % (name, " ".join(cmd)))
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)
        if SERVER_PIDS_FILE:  # run.sh's trap kills these pids if the harness itself dies
            with open(SERVER_PIDS_FILE, "a") as f:
                f.write("%d\n" % self.proc.pid)

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                m = re.search(pattern, f.read())
            if m:
                return m
            if self.proc.poll() is not None:
                raise Failure("%s exited with %d; log %s" % (self.name, self.proc.returncode, self.log_path))
            time.sleep(0.2)
        raise Failure("%s: no '%s' within %d s; log %s" % (self.name, pattern, timeout, self.log_path))

    def addresses(self, timeout):
        """Waits until the server is ready; returns (grpc address, metrics URL)."""
        listen = self.wait_for(r"listening on (\S+)", timeout).group(1)
        metrics = re.search(r"metrics on (\S+)", open(self.log_path).read())
        return listen, ("http://%s/metrics" % metrics.group(1)) if metrics else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Stack:
    """Servers started together and stopped together (in reverse order)."""

    def __init__(self):
        self.servers = []

    def start(self, name, cmd, log_dir):
        s = Server(name, cmd, log_dir)
        self.servers.append(s)
        return s

    def stop(self):
        for s in reversed(self.servers):
            s.stop()
        self.servers = []


# ------------------------------------------------------------------------------------------------
# Models and checkpoints


def golden_dir():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("QWEN3TTS_GOLDEN_DIR") or os.path.join(root, "..", "shared", "golden")


def ensure_model(args, shape):
    """Creates (once) a random custom_voice model of `shape` in the cache directory; returns its path.

    The text tokenizer is Qwen's BPE one, copied from the golden set's tiny model when it is there, so
    that a sentence is as many tokens as with a real checkpoint (~10-20); make-random-model's own
    byte-level tokenizer makes every character a token, 3-4x longer prompts and prefills."""
    bpe = os.path.join(golden_dir(), "models", "tiny-customvoice")
    use_bpe = all(os.path.exists(os.path.join(bpe, n)) for n in ("vocab.json", "merges.txt", "tokenizer_config.json"))
    path = os.path.join(args.models_dir, "%s-custom_voice%s" % (shape, "-qwen-bpe" if use_bpe else ""))
    if not use_bpe:
        log("no golden tokenizer at %s: the %s model gets a byte-level tokenizer (longer prompts)" % (bpe, shape))
    needed = ["config.json", "model.safetensors", os.path.join("speech_tokenizer", "model.safetensors")]
    if all(os.path.exists(os.path.join(path, n)) for n in needed):
        log("reusing model %s" % path)
        return path
    os.makedirs(args.models_dir, exist_ok=True)
    partial = path + ".partial-%d" % os.getpid()
    start = time.time()
    run_tool([args.qwen3_tts, "make-random-model", "--out", partial, "--shape", shape, "--variant", "custom_voice"] +
             (["--tokenizer-from", bpe] if use_bpe else []), timeout=1800)
    if os.path.exists(path):  # an incomplete earlier attempt
        subprocess.run(["rm", "-rf", path], check=True)
    os.rename(partial, path)
    log("wrote %s model in %.0f s" % (shape, time.time() - start))
    return path


def safetensors_entries(model_dir):
    """{name: (dtype, shape)} over model.safetensors or its shards (header only, no weights read)."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    entries = {}
    for name in files:
        with open(os.path.join(model_dir, name), "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for key, value in header.items():
            if key != "__metadata__":
                entries[key] = (value["dtype"], value["shape"])
    return entries


def streamed_parameters(model_dir):
    """Parameter counts read per frame: the talker stack (+ final norm and codec head), the code
    predictor's transformer layers, and the rest of the code predictor (norm, projection, the 15 heads,
    each used once per frame). Embedding tables only contribute the rows gathered, and the text
    projection runs on the prompt, so neither is counted. "<part>_bf16_matrices": how many of a part's
    parameters are matrices stored in bfloat16, which the float32 talker keeps in bfloat16 (exact)."""
    counts = {"talker": 0, "code_predictor_layers": 0, "code_predictor_other": 0}
    counts.update({k + "_bf16_matrices": 0 for k in list(counts)})
    for name, (dtype, shape) in safetensors_entries(model_dir).items():
        n = 1
        for d in shape:
            n *= d
        if name.startswith("talker.model.layers.") or name in ("talker.model.norm.weight", "talker.codec_head.weight"):
            part = "talker"
        elif name.startswith("talker.code_predictor.model.layers."):
            part = "code_predictor_layers"
        elif name.startswith("talker.code_predictor.") and ".codec_embedding." not in name:
            part = "code_predictor_other"
        else:
            continue
        counts[part] += n
        if dtype == "BF16" and len(shape) == 2:
            counts[part + "_bf16_matrices"] += n
    with open(os.path.join(model_dir, "config.json")) as f:
        counts["code_predictor_steps"] = json.load(f)["talker_config"]["num_code_groups"] - 1
    return counts


def streamed_bytes(params, part, dtype):
    """Bytes of a part's weights as the talker keeps them in `dtype`. int8's per-row scales are
    negligible; int4 packs 32 weights and a bfloat16 scale in 18 bytes, int4-g128 128 weights and a scale
    in 66 (their few int8 heads counted as int4: a rounding error); float32 keeps matrices stored in
    bfloat16 in bfloat16 (no value changes)."""
    n = params[part]
    if dtype == "float32":
        return 4 * n - 2 * params[part + "_bf16_matrices"]
    return n * {"bfloat16": 2, "int8": 1, "int4": 18 / 32, "int4-g128": 66 / 128}[dtype]


# ------------------------------------------------------------------------------------------------
# Measurements


def measure_bandwidth(args, threads):
    # 1 GiB: more than the last-level cache of the machines measured (32-480 MiB), so the passes
    # stream from memory.
    out, _ = run_tool([args.tool("qwen3tts-bench-bandwidth"), "--mib", "1024", "--threads", str(threads),
                       "--passes", "5", "--json"], timeout=300)
    result = json.loads(out.strip().splitlines()[-1])
    log("bandwidth: best %.2f GB/s (median %.2f) with %d threads" %
        (result["best_gb_per_s"], result["median_gb_per_s"], threads))
    return result


def measure_precision(args):
    """Accuracy cost of bfloat16, int8, int4 and int4-g128 talker weights vs float32 on the golden cases (qwen3tts-bench-precision)."""
    golden = golden_dir()
    if not os.path.exists(os.path.join(golden, "manifest.json")):
        log("precision: no golden set at %s (set QWEN3TTS_GOLDEN_DIR); skipped" % golden)
        return None
    out, _ = run_tool([args.tool("qwen3tts-bench-precision"), golden], timeout=1800)
    summary = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\w-]+)\s+vs float32: mean code agreement ([\d.]+) %, worst waveform SNR (\S+) dB, "
                     r"first-step logits error ([\d.]+) %, first token agreement (\d+)/(\d+)", line)
        if m:
            summary[m.group(1)] = {"code_agreement_percent": float(m.group(2)), "worst_snr_db": float(m.group(3)),
                                   "first_step_logits_error_percent": float(m.group(4)),
                                   "first_token_agreement": "%s/%s" % (m.group(5), m.group(6))}
    for dtype, v in summary.items():
        log("precision %s vs float32: %.1f %% code agreement, worst SNR %.1f dB" %
            (dtype, v["code_agreement_percent"], v["worst_snr_db"]))
    vocoder = vocoder_snrs(out)
    for name, snr in vocoder.items():
        log("precision vocoder %s vs float32: worst SNR %.1f dB" % (name, snr))
    return {"golden_dir": os.path.abspath(golden), "summary": summary, "vocoder_worst_snr_db": vocoder, "table": out}


def vocoder_snrs(out):
    """The precision bench's vocoder table: per decoder form, the worst SNR against float32 over the decode cases."""
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("vocoder (codec decoder)")), None)
    if start is None or start + 1 >= len(lines):
        return {}
    names = lines[start + 1].split("|")[2].split()
    worst = {}
    for line in lines[start + 2:]:
        parts = line.split("|")
        if len(parts) != 3:
            break
        for name, value in zip(names, parts[2].split()):
            worst[name] = min(worst.get(name, float("inf")), float(value))
    return worst


def measure_talker(args, model_dir, dtype):
    out, peak = run_tool([args.tool("qwen3tts-bench-talker"), "--model-dir", model_dir, "--frames", str(args.frames),
                          "--threads", str(args.threads), "--dtype", dtype], timeout=1800, rss=True)
    for line in out.splitlines():
        f = line.split()
        if len(f) == 10 and f[1] == dtype:
            return {"frames": int(f[2]), "talker_ms": float(f[3]), "code_predictor_ms": float(f[4]),
                    "talker_total_ms": float(f[5]), "bench_gb_per_frame": float(f[7]), "prefill_ms": float(f[8]),
                    "cached_head_prefill_ms": float(f[9]), "peak_rss_bytes": peak}
    raise Failure("no %s row in the talker bench output:\n%s" % (dtype, out))


def amx_bf16_tiles():
    """Whether the vocoder's bfloat16 convolutions run on AMX tiles here (common/nn/bf16_tiles.h):
    the CPU flags Linux reports, unless QWEN3TTS_AMX=0 keeps the processes off the tiles."""
    if os.environ.get("QWEN3TTS_AMX") == "0":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return all(flag in flags for flag in ("amx_tile", "amx_bf16", "avx512_bf16"))


# The vocoder each talker precision is deployed with: (linear-layer dtype, convolution dtype). The
# vocoder's linear layers have no bfloat16 form. int4 and int4-g128, the fastest talkers, get the fastest vocoder:
# bfloat16 convolutions on AMX tiles where the CPU has them, else int8 convolutions; int8 keeps the
# bfloat16 ones of earlier rounds, so both are measured where there are no tiles.
VOCODER_DTYPE = {"float32": ("float32", "float32"), "bfloat16": ("float32", "bfloat16"), "int8": ("int8", "bfloat16"),
                 "int4": ("int8", "bfloat16" if amx_bf16_tiles() else "int8")}
# int4-g128, the throughput choice, also takes the vocoder's pre-transformer to 4 bits per 128 inputs
# (~15 % less time per frame at one frame per call, ~3 dB lower SNR against float32); int4, the quality
# choice, keeps it int8.
VOCODER_DTYPE["int4-g128"] = ("int4-g128", VOCODER_DTYPE["int4"][1])


def vocoder_label(vdtype):
    linears, convs = vdtype
    return linears + {"float32": "", "bfloat16": "+bf16conv", "int8": "+int8conv"}[convs]


def measure_decoder(args, model_dir, vdtype, one_thread_bandwidth):
    """The vocoder on one thread at one frame per call, beside its bound there: the weights a call reads
    (every layer's, once per frame) over one thread's read bandwidth."""
    out, _ = run_tool([args.tool("qwen3tts-bench-codec-decoder"), "--model-dir", model_dir, "--frames",
                       str(args.decoder_frames), "--threads", "1", "--dtype", vdtype[0], "--conv-dtype", vdtype[1],
                       "--json"], timeout=1800)
    rows = json.loads([l for l in out.splitlines() if l.startswith("[")][-1])
    streaming = [r for r in rows if r["mode"].startswith("streaming")][0]
    batched = [r for r in rows if r["mode"].startswith("offline")]
    bound_ms = 1e3 * streaming["weight_mb_per_call"] * 1e6 / one_thread_bandwidth
    return {"threads": 1, "dtype": vocoder_label(vdtype), "frames": streaming["frames"], "ms_per_frame": streaming["ms_per_frame"],
            "max_ms_per_call": streaming["max_ms_per_call"], "x_realtime": 1.0 / streaming["rtf"],
            "offline_ms_per_frame": batched[0]["ms_per_frame"] if batched else None,
            "weight_mb_per_frame": streaming["weight_mb_per_call"], "bound_ms": bound_ms,
            "achieved_over_bound": streaming["ms_per_frame"] / bound_ms}


def load_run(args, target, streams, duration, max_seconds, metrics_urls=(), tag="load", prompt="default"):
    """One qwen3-tts-load run; returns its JSON report (raises on failed requests)."""
    out_json = os.path.join(args.log_dir, "%s-%d.json" % (tag, int(time.time() * 1000)))
    cmd = [args.tool("qwen3-tts-load"), "--target", target, "--streams", str(streams), "--duration", str(duration),
           "--max-seconds", str(max_seconds), "--deadline", "600", "--warmup", "0", "--sample-interval", "1",
           "--json", out_json, "--prompt", prompt]
    for url in metrics_urls:
        if url:
            cmd += ["--metrics", url]
    run_tool(cmd, timeout=int(duration + 900))
    with open(out_json) as f:
        return json.load(f)


def summarize_load(report):
    ok = report["requests"]["ok"]
    rss = {}
    for stage in report.get("rss", []):
        if stage.get("valid"):
            rss[stage["stage"]] = stage["max_bytes"]
    return {"requests": ok, "frames": report["frames"], "frames_per_request": report["frames"] / ok if ok else 0,
            "wall_seconds": report["wall_seconds"], "frames_per_second": report["frames_per_second"],
            "ttfa_p50_ms": 1e3 * report["ttfa_seconds"]["p50"], "ttfa_p95_ms": 1e3 * report["ttfa_seconds"]["p95"],
            "ttfa_max_ms": 1e3 * report["ttfa_seconds"]["max"], "latency_p50_ms": 1e3 * report["latency_seconds"]["p50"],
            "peak_rss_bytes_by_stage": rss}


def warm_up(args, target):
    load_run(args, target, 1, 0.01, args.ttfa_max_seconds, tag="warmup")


def start_serve(args, stack, model_dir, dtype):
    s = stack.start("serve-%s" % dtype,
                    [args.qwen3_tts, "serve", "--model-dir", model_dir, "--listen", "127.0.0.1:0",
                     "--metrics-listen", "127.0.0.1:0", "--http-listen", "", "--threads", str(args.threads),
                     "--dtype", dtype, "--vocoder-dtype", VOCODER_DTYPE[dtype][0],
                     "--vocoder-conv-dtype", VOCODER_DTYPE[dtype][1], "--drain-seconds", "0",
                     "--max-streams", "8", "--max-queue", "16"],
                    args.log_dir)
    return s.addresses(args.start_timeout)


def split_talker_threads(args):
    return max(1, args.threads - 1)


def start_split(args, stack, model_dir, dtype):
    """talker (--max-streams 8), vocoder (one thread) and gateway processes; returns (target, metrics URLs)."""
    common = ["--model-dir", model_dir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
              "--drain-seconds", "0"]
    # The cores are split as `serve` splits them: the vocoder's decode calls run on one thread, the
    # talker's decoding steps on the rest (side by side on 2 cores, a 2-thread talker beside the
    # vocoder gave no more frames/s than a 1-thread one and took ~30 % more CPU per frame); its
    # prefills, before the stream's vocoder has work, on every core.
    talker = stack.start("talker-%s" % dtype, [args.tool("qwen3-tts-talker")] + common +
                         ["--threads", str(args.threads), "--step-threads", str(split_talker_threads(args)),
                          "--dtype", dtype, "--max-streams", "8", "--max-queue", "16",
                          # the three processes share this machine's cores: no busy-waiting workers
                          "--spin-wait-us", "0"],
                         args.log_dir)
    vocoder = stack.start("vocoder", [args.tool("qwen3-tts-vocoder")] + common +
                          ["--threads", "1", "--dtype", VOCODER_DTYPE[dtype][0], "--conv-dtype", VOCODER_DTYPE[dtype][1],
                           "--max-streams", "8", "--max-queue", "16"],
                          args.log_dir)
    t_addr, t_metrics = talker.addresses(args.start_timeout)
    v_addr, v_metrics = vocoder.addresses(args.start_timeout)
    gateway = stack.start("gateway", [args.tool("qwen3-tts-gateway")] + common +
                          ["--talker", t_addr, "--vocoder", v_addr, "--http-listen", "", "--threads", "1",
                           "--max-streams", "16", "--max-queue", "32"], args.log_dir)
    g_addr, g_metrics = gateway.addresses(args.start_timeout)
    return g_addr, [g_metrics, t_metrics, v_metrics]


def measure_ttfa(args, target, metrics, tag, prompt="default"):
    warm_up(args, target)
    report = load_run(args, target, 1, args.ttfa_seconds, args.ttfa_max_seconds, metrics, tag=tag, prompt=prompt)
    s = summarize_load(report)
    log("%s: TTFA p50 %.0f ms over %d requests, %.2f frames/s" % (tag, s["ttfa_p50_ms"], s["requests"],
                                                                  s["frames_per_second"]))
    return s


def measure_stream(args, target, metrics, tag):
    """One stream of longer requests (--stream-max-seconds of audio each): the real-time factor over whole
    requests, and after the first audio (the rate at which audio keeps coming once it plays)."""
    report = load_run(args, target, 1, args.stream_seconds, args.stream_max_seconds, metrics, tag=tag)
    s = summarize_load(report)
    audio_ms = s["frames_per_request"] * 1000 * FRAME_SECONDS
    if audio_ms > 0:
        s["rtf_whole_request"] = s["latency_p50_ms"] / audio_ms
        s["rtf_after_first_audio"] = (s["latency_p50_ms"] - s["ttfa_p50_ms"]) / audio_ms
        log("%s: RTF %.2f per request, %.2f after the first audio (%.0f frames/request, TTFA p50 %.0f ms)" %
            (tag, s["rtf_whole_request"], s["rtf_after_first_audio"], s["frames_per_request"], s["ttfa_p50_ms"]))
    return s


def sweep_precisions(args, rows):
    """--sweep-precision and the talker rows of the serving shape -> (precisions swept, the headline one).

    The headline precision is the fastest swept (the one the 8-stream target is read from)."""
    listed = args.sweep_precision not in ("all", "auto")
    candidates = [r for r in rows if not listed or r["dtype"] in args.sweep_precision.split("+")]
    if not candidates:
        return [], None
    headline = min(candidates, key=lambda r: r["talker_total_ms"])["dtype"]
    return ([headline] if args.sweep_precision == "auto" else [r["dtype"] for r in candidates]), headline


def sweep(args, target, metrics, levels, rounds):
    """Appends one summary per concurrency level to `levels` (kept if the run is stopped midway).

    The levels run in rounds (1, 2, 4, 8, 1, 2, 4, 8, ...), so that each level's ratio to one stream
    ("x single") is taken within a round, side by side, and the machine's slow and fast minutes
    spread over every level instead of falling on one. A level's frames/s is its frames over its
    seconds in all rounds; its TTFA and latency percentiles are the median of the rounds'."""
    by_level = {}
    for round_index in range(rounds):
        single = None
        for streams in args.streams:
            report = load_run(args, target, streams, args.sweep_seconds, args.sweep_max_seconds, metrics,
                              tag="sweep-%d-round-%d" % (streams, round_index + 1))
            s = summarize_load(report)
            if streams == args.streams[0]:
                single = s["frames_per_second"] / streams
            s["x_single"] = s["frames_per_second"] / single if single else 0
            log("sweep round %d, %d streams: %.2f frames/s (%.2fx single), TTFA p50 %.0f p95 %.0f ms, %d requests" %
                (round_index + 1, streams, s["frames_per_second"], s["x_single"], s["ttfa_p50_ms"], s["ttfa_p95_ms"],
                 s["requests"]))
            rounds = by_level.setdefault(streams, [])
            rounds.append(s)
            level = combine_rounds(rounds)
            level["streams"] = streams
            for i, existing in enumerate(levels):
                if existing["streams"] == streams:
                    levels[i] = level
                    break
            else:
                levels.append(level)


def combine_rounds(rounds):
    """One level's rounds -> its summary (see sweep)."""
    median = statistics.median
    frames = sum(r["frames"] for r in rounds)
    wall = sum(r["wall_seconds"] for r in rounds)
    requests = sum(r["requests"] for r in rounds)
    rss = {}
    for r in rounds:
        for stage, b in r["peak_rss_bytes_by_stage"].items():
            rss[stage] = max(rss.get(stage, 0), b)
    return {"requests": requests, "frames": frames, "frames_per_request": frames / requests if requests else 0,
            "wall_seconds": wall, "frames_per_second": frames / wall if wall else 0,
            "x_single": median([r["x_single"] for r in rounds]),
            "x_single_rounds": [round(r["x_single"], 3) for r in rounds],
            "frames_per_second_rounds": [round(r["frames_per_second"], 2) for r in rounds],
            "ttfa_p50_ms": median([r["ttfa_p50_ms"] for r in rounds]),
            "ttfa_p95_ms": median([r["ttfa_p95_ms"] for r in rounds]),
            "ttfa_max_ms": max(r["ttfa_max_ms"] for r in rounds),
            "latency_p50_ms": median([r["latency_p50_ms"] for r in rounds]),
            "peak_rss_bytes_by_stage": rss, "rounds": len(rounds)}


# ------------------------------------------------------------------------------------------------
# Report


def mib(b):
    return b / 1048576.0 if b else float("nan")


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def targets(args, results):
    """The issue's targets, evaluated on the first shape (the 0.6B one in a full run)."""
    rows = [r for r in results["rows"] if r["shape"] == args.shapes[0][0]]
    out = []
    if not rows:
        return out
    best = min(rows, key=lambda r: r["rtf"])
    streamed = [r for r in rows if r.get("stream_serve", {}).get("rtf_after_first_audio")]
    levels = {l["streams"]: l for l in results.get("concurrency", {}).get("levels", [])}
    if streamed:
        b = min(streamed, key=lambda r: r["stream_serve"]["rtf_after_first_audio"])
        st = b["stream_serve"]
        value = ("%.2f after the first audio, %.2f over whole %.0f-frame requests incl. TTFA %.0f ms (%s, `serve`); "
                 "stage times summed: %.2f (%s)" % (st["rtf_after_first_audio"], st["rtf_whole_request"],
                                                    st["frames_per_request"], st["ttfa_p50_ms"], b["dtype"],
                                                    best["rtf"], best["dtype"]))
        met = st["rtf_after_first_audio"] <= 1.0
    else:
        value, met = "stage times summed: %.2f (%s)" % (best["rtf"], best["dtype"]), best["rtf"] <= 1.0
    if 1 in levels and levels[1]["frames_per_second"] > 0:
        # Closed loop: includes each request's prompt and the gap between requests, so pessimistic.
        value += "; split stages through the gateway, 1-second requests: %.2f (%s)" % (
            12.5 / levels[1]["frames_per_second"], results["concurrency"]["dtype"])
    out.append({"target": "single-stream RTF <= 1.0 (best precision; talker, code predictor and vocoder in one "
                          "process on this machine's cores)", "value": value, "met": met})
    f32 = [r for r in rows if r["dtype"] == "float32"]
    if f32:
        r = f32[0]
        # The float32 talker keeps matrices stored in bfloat16 (the official and the harness's random
        # checkpoints) in bfloat16: the bound counts the bytes it really streams.
        kept = r["streamed_parameters"].get("talker_bf16_matrices", 0) > 0
        storage = ("; the checkpoint's bfloat16 matrices are kept in bfloat16 (float32 arithmetic, float32's "
                   "results; the bound counts 2 bytes for them)" if kept else "")
        out.append({"target": "float32 talker + code predictor within 1.3x of the bandwidth bound",
                    "value": "%.2fx (%.1f ms vs bound %.1f ms%s)" % (r["achieved_over_bound"], r["talker_total_ms"],
                                                                    r["bound_ms"], storage),
                    "met": r["achieved_over_bound"] <= 1.3})
        goal = 2.5 * args.python_baseline_fps
        # The reference point (1.65 frames/s) is the Python implementation's generation rate, talker +
        # code predictor, without its decoder: compared like for like, on the shape it was measured on.
        if r["shape"] == "0.6b":
            out.append({"target": "float32 >= 2.5x the Python implementation's generation (%.2f frames/s, talker + "
                                  "code predictor) = %.2f frames/s" % (args.python_baseline_fps, goal),
                        "value": "%.2f frames/s = %.2fx (with our streaming float32 decoder added: %.2f frames/s%s)" %
                                 (r["talker_frames_per_second"], r["talker_frames_per_second"] / args.python_baseline_fps,
                                  r["frames_per_second"],
                                  "; the reference's float32 widens the bfloat16 weights, ours streams them as stored"
                                  if kept else ""),
                        "met": r["talker_frames_per_second"] >= goal})
    for key, label in (("ttfa_gateway", "TTFA through the gateway <= 300 ms (one sentence, p50)"),
                       ("ttfa_gateway_streaming_prompt",
                        "TTFA through the gateway <= 300 ms, streaming prompt (non_streaming_mode false)")):
        measured = [r for r in rows if r.get(key)]
        if measured:
            b = min(measured, key=lambda r: r[key]["ttfa_p50_ms"])
            out.append({"target": label, "value": "%.0f ms (%s)" % (b[key]["ttfa_p50_ms"], b["dtype"]),
                        "met": b[key]["ttfa_p50_ms"] <= 300})
    if 1 in levels and 8 in levels:
        l8 = levels[8]
        ratio = l8["x_single"]
        out.append({"target": "aggregate throughput at 8 streams >= 4x single stream",
                    "value": "%.2fx, the median of %d rounds' side-by-side ratios (%s); over all rounds %.2f vs %.2f "
                             "frames/s" % (ratio, l8["rounds"], ", ".join("%.2f" % x for x in l8["x_single_rounds"]),
                                           l8["frames_per_second"], levels[1]["frames_per_second"]),
                    "met": ratio >= 4})
    dec = min((r["decoder"] for r in rows), key=lambda d: d["ms_per_frame"])
    value = "%.1fx (%.1f ms per 80 ms frame, %s)" % (dec["x_realtime"], dec["ms_per_frame"], dec["dtype"])
    if dec.get("bound_ms"):
        # 20x real time is 4 ms per frame: at one frame per call, no more weight bytes than one thread
        # reads in 4 ms.
        value += ("; at one frame per call it streams %.0f MB of weights per frame, bound %.1f ms at one thread's "
                  "bandwidth (%.2fx achieved/bound); 20x there needs <= %.0f MB per frame" % (
                      dec["weight_mb_per_frame"], dec["bound_ms"], dec["achieved_over_bound"],
                      dec["weight_mb_per_frame"] * 4.0 / dec["bound_ms"]))
    out.append({"target": "vocoder >= 20x real time on one core", "value": value, "met": dec["x_realtime"] >= 20})
    return out


def markdown(results):
    lines = []
    bw = results["bandwidth"]
    lines.append("Read bandwidth: best %.2f GB/s, median %.2f GB/s (%d threads, %.0f MiB array)." %
                 (bw["best_gb_per_s"], bw["median_gb_per_s"], bw["threads"], bw["bytes"] / 1048576.0))
    bw1 = results.get("bandwidth_one_thread")
    if bw1:
        lines.append("One thread: best %.2f GB/s, median %.2f GB/s (the vocoder's bound)." %
                     (bw1["best_gb_per_s"], bw1["median_gb_per_s"]))
    lines.append("")
    lines.append("| shape | dtype | talker ms | predictor ms | decoder ms (vocoder dtype) | total ms/frame | frames/s | RTF | "
                 "peak RSS MiB | weights MB/frame | bound ms | achieved/bound | bound ms, predictor x15 | "
                 "TTFA serve ms | TTFA gateway ms |")
    lines.append("|" + "---|" * 15)
    for r in results["rows"]:
        serve = r.get("ttfa_serve")
        gw = r.get("ttfa_gateway")
        lines.append("| %s | %s | %.1f | %.1f | %.1f (%s) | %.1f | %.2f | %.2f | %.0f | %.0f | %.1f | %.2f | %.1f | %s | %s |" % (
            r["shape"], r["dtype"], r["talker_ms"], r["code_predictor_ms"], r["decoder"]["ms_per_frame"],
            r["decoder"].get("dtype", "float32"),
            r["total_ms"], r["frames_per_second"], r["rtf"], mib(r["peak_rss_bytes"]), r["bytes_per_frame"] / 1e6,
            r["bound_ms"], r["achieved_over_bound"], r["bound_predictor_streamed_ms"], fmt(serve and serve["ttfa_p50_ms"], ".0f"),
            fmt(gw and gw["ttfa_p50_ms"], ".0f")))
    vocoders = {}
    for r in results["rows"]:
        d = r["decoder"]
        if d.get("bound_ms"):
            vocoders[d["dtype"]] = d
    if vocoders:
        lines.append("")
        lines.append("The vocoder on one thread at one frame per call against its bound there (the weights a call reads, "
                     "once per frame, over one thread's read bandwidth): " + "; ".join(
                         "%s %.1f ms for %.0f MB, bound %.1f ms (%.2fx)" % (
                             name, d["ms_per_frame"], d["weight_mb_per_frame"], d["bound_ms"], d["achieved_over_bound"])
                         for name, d in vocoders.items()) + ".")
    streaming = ["%s %s %s ms" % (r["shape"], r["dtype"], fmt(r["ttfa_gateway_streaming_prompt"]["ttfa_p50_ms"], ".0f"))
                 for r in results["rows"] if r.get("ttfa_gateway_streaming_prompt")]
    if streaming:
        lines.append("")
        lines.append("TTFA through the gateway with the streaming prompt layout (non_streaming_mode false; the "
                     "columns above use the model's default, the whole sentence in the prompt), p50: " +
                     ", ".join(streaming) + ".")
    streamed = [r for r in results["rows"] if r.get("stream_serve", {}).get("rtf_whole_request")]
    if streamed:
        lines.append("")
        lines.append("One stream through `qwen3-tts serve` (all stages in one process, %d threads: the vocoder's "
                     "decode calls 1, the talker the rest; %.0f-second requests back to back):" %
                     (results["config"]["threads"], results["config"].get("stream_max_seconds", 4)))
        lines.append("")
        lines.append("| shape | dtype | vocoder | frames/request | TTFA p50 ms | latency p50 ms | RTF whole request | "
                     "RTF after first audio |")
        lines.append("|" + "---|" * 8)
        for r in streamed:
            st = r["stream_serve"]
            lines.append("| %s | %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f |" % (
                r["shape"], r["dtype"], r["decoder"].get("dtype", "float32"), st["frames_per_request"], st["ttfa_p50_ms"],
                st["latency_p50_ms"], st["rtf_whole_request"], st["rtf_after_first_audio"]))
    conc = results.get("concurrency")
    if conc:
        lines.append("")
        rounds = conc.get("rounds", 1)
        lines.append("Concurrency through the gateway (%s %s, talker --max-streams 8 --threads %d --step-threads %d, "
                     "vocoder %s --threads 1, max_duration %g s; %d round%s of every level, %g s per level per round; "
                     "x single: the median of the rounds' ratios to one stream, each measured in the same round; "
                     "TTFA and latency: the median of the rounds' percentiles):" %
                     (conc["shape"], conc["dtype"], conc["threads"], conc.get("talker_threads", conc["threads"]),
                      conc.get("vocoder", vocoder_label(VOCODER_DTYPE[conc["dtype"]])),
                      conc["max_seconds"], rounds, "" if rounds == 1 else "s", conc["seconds_per_level"]))
        lines.append("")
        lines.append("| streams | requests | frames/request | aggregate frames/s | x single | x single per round | "
                     "TTFA p50 ms | TTFA p95 ms | latency p50 ms |")
        lines.append("|" + "---|" * 9)
        for l in conc["levels"]:
            lines.append("| %d | %d | %.1f | %.2f | %.2f | %s | %.0f | %.0f | %.0f |" % (
                l["streams"], l["requests"], l["frames_per_request"], l["frames_per_second"], l["x_single"],
                " / ".join("%.2f" % x for x in l["x_single_rounds"]), l["ttfa_p50_ms"], l["ttfa_p95_ms"],
                l["latency_p50_ms"]))
        peak = {}
        for l in conc["levels"]:
            for stage, b in l["peak_rss_bytes_by_stage"].items():
                peak[stage] = max(peak.get(stage, 0), b)
        if peak:
            lines.append("")
            lines.append("Peak RSS during the sweep: " + ", ".join("%s %.0f MiB" % (k, mib(v)) for k, v in
                                                                 sorted(peak.items())) + ".")
    others = results.get("concurrency_other_precisions")
    if others:
        lines.append("")
        lines.append("The same sweep at the other precisions (%s round%s of every level each):" %
                     (others[0]["rounds"], "" if others[0]["rounds"] == 1 else "s"))
        lines.append("")
        lines.append("| dtype | vocoder | streams | requests | aggregate frames/s | x single | TTFA p50 ms | "
                     "TTFA p95 ms | latency p50 ms |")
        lines.append("|" + "---|" * 9)
        for c in others:
            for l in c["levels"]:
                lines.append("| %s | %s | %d | %d | %.2f | %.2f | %.0f | %.0f | %.0f |" % (
                    c["dtype"], c["vocoder"], l["streams"], l["requests"], l["frames_per_second"],
                    l["x_single"], l["ttfa_p50_ms"], l["ttfa_p95_ms"], l["latency_p50_ms"]))
    prec = results.get("precision")
    if prec and prec["summary"]:
        lines.append("")
        lines.append("Accuracy cost vs float32 on the golden cases (%s; the golden models have random weights, "
                     "so near-ties make codes diverge easily):" % prec["golden_dir"])
        lines.append("")
        lines.append("| weights | code agreement with float32 | worst waveform SNR dB | first-step logits error "
                     "(relative L2, mean) | first token = float32's |")
        lines.append("|---|---|---|---|---|")
        for dtype, v in prec["summary"].items():
            lines.append("| %s | %.1f %% | %.1f | %.2f %% | %s |" % (
                dtype, v["code_agreement_percent"], v["worst_snr_db"], v["first_step_logits_error_percent"],
                v["first_token_agreement"]))
        if prec.get("vocoder_worst_snr_db"):
            lines.append("")
            lines.append("Vocoder forms against the float32 vocoder on the golden decode cases, worst SNR: " +
                         ", ".join("%s %.1f dB" % kv for kv in prec["vocoder_worst_snr_db"].items()) + ".")
    if results.get("targets"):
        lines.append("")
        lines.append("| target | measured | met |")
        lines.append("|---|---|---|")
        for t in results["targets"]:
            lines.append("| %s | %s | %s |" % (t["target"], t["value"], "yes" if t["met"] else "**no**"))
    return "\n".join(lines) + "\n"


def plot(results, path):
    """Throughput and time to first audio vs concurrency: the headline precision (the 8-stream target's)
    in full, and a line per other precision swept."""
    conc = results.get("concurrency")
    if not conc or not conc["levels"]:
        return False
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (apt-get install python3-matplotlib): no plot")
        return False
    sweeps = [conc] + [c for c in results.get("concurrency_other_precisions", []) if c["levels"]]
    streams = [l["streams"] for l in conc["levels"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for c in sweeps:
        x = [l["streams"] for l in c["levels"]]
        headline = c is conc
        style = dict(marker="o", linewidth=2 if headline else 1, alpha=1.0 if headline else 0.7)
        ax1.plot(x, [l["frames_per_second"] for l in c["levels"]], label=c["dtype"] + (" (headline)" if headline else ""),
                 **style)
        line, = ax2.plot(x, [l["ttfa_p50_ms"] for l in c["levels"]], label="%s p50" % c["dtype"], **style)
        if headline:
            ax2.plot(x, [l["ttfa_p95_ms"] for l in c["levels"]], "s--", color=line.get_color(),
                     label="%s p95" % c["dtype"])
    base = conc["levels"][0]["frames_per_second"] / conc["levels"][0]["streams"]
    ax1.plot(streams, [base * s for s in streams], "--", color="gray", label="linear scaling (%s)" % conc["dtype"])
    ax1.axhline(12.5, color="red", linestyle=":", label="real time (12.5 frames/s)")
    if 8 in streams:
        ax1.plot([8], [4 * conc["levels"][0]["frames_per_second"]], "r*", markersize=12,
                 label="target: 4x single (%s)" % conc["dtype"])
    ax2.axhline(300, color="red", linestyle=":", label="300 ms target")
    for ax, ylabel, title in ((ax1, "aggregate frames/s", "throughput"),
                              (ax2, "time to first audio (ms)", "time to first audio")):
        ax.set_xlabel("simultaneous streams")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log", base=2)
        ax.set_xticks(streams)
        ax.set_xticklabels([str(s) for s in streams])
        ax.legend(fontsize="small")
        ax.set_title(title)
    fig.suptitle("qwen3-tts gateway, %s, talker steps on %d thread(s) + 1 vocoder thread" %
                 (conc["shape"], conc.get("talker_threads", results["config"]["threads"])))
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--quick", action="store_true", help="tiny models and short runs (about 2-3 minutes)")
    p.add_argument("--shapes", help="comma-separated shapes; SHAPE:dtype+dtype limits a shape's precisions "
                                    "(default 0.6b,1.7b; tiny with --quick)")
    p.add_argument("--precisions", default=",".join(PRECISIONS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="bench/results")
    p.add_argument("--models-dir", default="/tmp/qwen3tts-bench-models")
    p.add_argument("--frames", type=int, help="frames per talker measurement (default 25; 20 with --quick)")
    p.add_argument("--decoder-frames", type=int, help="frames per decoder measurement (default 25)")
    p.add_argument("--serving-shapes", help="shapes measured through the servers (default: the first shape)")
    p.add_argument("--ttfa-seconds", type=float, help="seconds of back-to-back requests per TTFA measurement")
    p.add_argument("--ttfa-max-seconds", type=float, help="max_duration of a TTFA request")
    p.add_argument("--stream-seconds", type=float, help="seconds of back-to-back longer requests through serve "
                                                         "(default 12; 3 with --quick)")
    p.add_argument("--stream-max-seconds", type=float, help="max_duration of those requests (default 4; 1 with --quick)")
    p.add_argument("--streams", default="1,2,4,8", help="concurrency levels")
    p.add_argument("--sweep-seconds", type=float,
                   help="seconds per concurrency level and round (default 15; 3 with --quick)")
    p.add_argument("--sweep-rounds", type=int,
                   help="rounds of every concurrency level, alternating (default 3; 1 with --quick)")
    p.add_argument("--sweep-max-seconds", type=float, help="max_duration of a sweep request")
    p.add_argument("--sweep-precision", default="all",
                   help="precisions swept: all (default: every precision measured), auto (the fastest only) or a "
                        "list joined by + (int8+int4-g128); the fastest of them is the headline sweep")
    p.add_argument("--sweep-other-rounds", type=int, default=1,
                   help="rounds of every level for the precisions other than the headline one (default 1)")
    p.add_argument("--no-sweep", action="store_true")
    p.add_argument("--python-baseline-fps", type=float, default=1.65,
                   help="frames/s of the official Python implementation on this machine (0.6B, 2 threads)")
    p.add_argument("--start-timeout", type=float, default=600)
    a = p.parse_args(argv)
    shapes = a.shapes or ("tiny" if a.quick else "0.6b,1.7b")
    precisions = a.precisions.split(",")
    a.shapes = []
    for spec in shapes.split(","):
        name, _, only = spec.partition(":")
        a.shapes.append((name, only.split("+") if only else precisions))
    for _, ps in a.shapes:
        for prec in ps:
            if prec not in PRECISIONS:
                p.error("unknown precision %s (allowed: %s)" % (prec, ", ".join(PRECISIONS)))
    a.serving_shapes = a.serving_shapes.split(",") if a.serving_shapes else [a.shapes[0][0]]
    a.streams = [int(s) for s in a.streams.split(",")]
    q = a.quick
    a.frames = a.frames or (20 if q else 25)
    a.decoder_frames = a.decoder_frames or (20 if q else 25)
    a.ttfa_seconds = a.ttfa_seconds or (2 if q else 8)
    a.ttfa_max_seconds = a.ttfa_max_seconds or (0.5 if q else 0.4)
    a.sweep_seconds = a.sweep_seconds or (3 if q else 15)
    a.sweep_rounds = a.sweep_rounds or (1 if q else 3)
    if a.sweep_rounds < 1 or a.sweep_other_rounds < 1:
        p.error("--sweep-rounds and --sweep-other-rounds must be at least 1")
    if a.sweep_precision not in ("all", "auto"):
        for prec in a.sweep_precision.split("+"):
            if prec not in PRECISIONS:
                p.error("unknown --sweep-precision %s (allowed: all, auto, or %s joined by +)" %
                        (prec, ", ".join(PRECISIONS)))
    a.stream_seconds = a.stream_seconds or (3 if q else 12)
    a.stream_max_seconds = a.stream_max_seconds or (1.0 if q else 4.0)
    a.sweep_max_seconds = a.sweep_max_seconds or (1.0 if q else 1.0)
    a.qwen3_tts = os.path.join(a.build_dir, "services", "qwen3-tts", "qwen3-tts")
    locations = {"qwen3tts-bench-talker": "bench", "qwen3tts-bench-codec-decoder": "bench",
                 "qwen3tts-bench-bandwidth": "bench", "qwen3tts-bench-precision": "bench", "qwen3-tts-load": "clients/cpp",
                 "qwen3-tts-talker": "services/talker", "qwen3-tts-vocoder": "services/vocoder",
                 "qwen3-tts-gateway": "services/gateway"}
    a.tool = lambda name: os.path.join(a.build_dir, locations[name], name)
    return a


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    os.makedirs(args.out, exist_ok=True)
    args.log_dir = tempfile.mkdtemp(prefix="qwen3tts-bench-logs-")
    log("logs in %s" % args.log_dir)
    started = time.time()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True).stdout.strip()
    except OSError:
        commit = ""
    results = {"config": {"command": os.environ.get("QWEN3TTS_BENCH_COMMAND") or " ".join(sys.argv),
                          "git_commit": commit, "quick": args.quick, "threads": args.threads,
                          "shapes": [{"shape": s, "precisions": p} for s, p in args.shapes],
                          "frames": args.frames, "decoder_frames": args.decoder_frames,
                          "ttfa_seconds": args.ttfa_seconds, "ttfa_max_seconds": args.ttfa_max_seconds,
                          "sweep_seconds": args.sweep_seconds, "sweep_max_seconds": args.sweep_max_seconds,
                          "stream_seconds": args.stream_seconds, "stream_max_seconds": args.stream_max_seconds,
                          "python_baseline_fps": args.python_baseline_fps},
               "machine": {"cpus": os.cpu_count(), "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "loadavg_start": os.getloadavg()},
               "rows": []}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            results["machine"]["cpu"] = m.group(1) if m else "?"
    except OSError:
        pass
    stack = Stack()
    try:
        results["bandwidth"] = measure_bandwidth(args, args.threads)
        bw = results["bandwidth"]["best_gb_per_s"] * 1e9
        # The vocoder's bound: it decodes on one thread.
        results["bandwidth_one_thread"] = measure_bandwidth(args, 1)
        bw1 = results["bandwidth_one_thread"]["best_gb_per_s"] * 1e9
        results["precision"] = measure_precision(args)
        decoders = {}  # the shapes share the speech tokenizer: measured once per distinct checkpoint
        # Shape by shape, everything about a shape before the next one: a run stopped early (say during
        # the 1.7B model) still has the complete first shape, on which the targets are evaluated.
        for shape, precisions in args.shapes:
            model_dir = ensure_model(args, shape)
            params = streamed_parameters(model_dir)
            st = os.path.join(model_dir, "speech_tokenizer")
            with open(os.path.join(st, "config.json")) as f:
                key = (f.read(), os.path.getsize(os.path.join(st, "model.safetensors")))
            for dtype in precisions:
                vdtype = VOCODER_DTYPE[dtype]
                if (key, vdtype) not in decoders:
                    decoders[(key, vdtype)] = measure_decoder(args, model_dir, vdtype, bw1)
                    log("%s %s decoder: %.2f ms/frame on one thread (%.1fx real time)" %
                        (shape, vocoder_label(vdtype), decoders[(key, vdtype)]["ms_per_frame"], decoders[(key, vdtype)]["x_realtime"]))
                decoder = decoders[(key, vdtype)]
                t = measure_talker(args, model_dir, dtype)
                talker_bytes = streamed_bytes(params, "talker", dtype)
                layer_bytes = streamed_bytes(params, "code_predictor_layers", dtype)
                other_bytes = streamed_bytes(params, "code_predictor_other", dtype)
                row = dict(t)
                row.update({"shape": shape, "dtype": dtype, "decoder": decoder, "streamed_parameters": params})
                row["total_ms"] = t["talker_total_ms"] + decoder["ms_per_frame"]
                row["frames_per_second"] = 1000.0 / row["total_ms"]
                row["talker_frames_per_second"] = 1000.0 / t["talker_total_ms"]
                row["rtf"] = row["total_ms"] / (1000 * FRAME_SECONDS)
                # The bound of the issue: the code predictor read once per frame (it stays in cache).
                row["bytes_per_frame"] = talker_bytes + layer_bytes + other_bytes
                row["bound_ms"] = 1000.0 * row["bytes_per_frame"] / bw
                row["code_predictor_bytes"] = layer_bytes + other_bytes
                # If the code predictor does not fit in the last-level cache, its layers are read at each of
                # its 15 steps: a second, looser bound.
                row["bytes_per_frame_predictor_streamed"] = (
                    talker_bytes + layer_bytes * params["code_predictor_steps"] + other_bytes)
                row["bound_predictor_streamed_ms"] = 1000.0 * row["bytes_per_frame_predictor_streamed"] / bw
                row["achieved_over_bound"] = t["talker_total_ms"] / row["bound_ms"]
                log("%s %s: talker %.1f + predictor %.1f + decoder %.1f ms/frame, bound %.1f ms (%.2fx)" %
                    (shape, dtype, t["talker_ms"], t["code_predictor_ms"], decoder["ms_per_frame"], row["bound_ms"],
                     row["achieved_over_bound"]))
                results["rows"].append(row)
            if shape not in args.serving_shapes:
                continue
            swept, sweep_dtype = [], None
            if not args.no_sweep and shape == args.shapes[0][0]:
                swept, sweep_dtype = sweep_precisions(args, [r for r in results["rows"] if r["shape"] == shape])
            # The swept precisions last and the headline one (the fastest) at the very end, so that a stopped
            # run has the time to first audio of every precision and the headline sweep is the last to go.
            for dtype in sorted(precisions, key=lambda d: (d in swept, d == sweep_dtype)):
                row = [r for r in results["rows"] if r["shape"] == shape and r["dtype"] == dtype][0]
                try:
                    target, metrics = start_serve(args, stack, model_dir, dtype)
                    row["ttfa_serve"] = measure_ttfa(args, target, [metrics], "serve-%s-%s" % (shape, dtype))
                    row["stream_serve"] = measure_stream(args, target, [metrics], "serve-stream-%s-%s" % (shape, dtype))
                finally:
                    stack.stop()
                try:
                    target, metrics = start_split(args, stack, model_dir, dtype)
                    row["ttfa_gateway"] = measure_ttfa(args, target, metrics, "gateway-%s-%s" % (shape, dtype))
                    # The streaming prompt layout (non_streaming_mode false): the text is fed one token
                    # per frame, so the prefill is a few positions instead of the whole sentence.
                    row["ttfa_gateway_streaming_prompt"] = measure_ttfa(
                        args, target, metrics, "gateway-streaming-prompt-%s-%s" % (shape, dtype), prompt="streaming")
                    if dtype in swept:
                        # The headline precision's sweep (the 8-stream target) runs --sweep-rounds rounds, the
                        # others --sweep-other-rounds: the shape of the curves per precision, in less time.
                        rounds = args.sweep_rounds if dtype == sweep_dtype else args.sweep_other_rounds
                        conc = {"shape": shape, "dtype": dtype, "vocoder": vocoder_label(VOCODER_DTYPE[dtype]),
                                "threads": args.threads,
                                "talker_threads": split_talker_threads(args), "seconds_per_level": args.sweep_seconds,
                                "rounds": rounds, "max_seconds": args.sweep_max_seconds, "levels": []}
                        if dtype == sweep_dtype:
                            results["concurrency"] = conc
                        else:
                            results.setdefault("concurrency_other_precisions", []).append(conc)
                        sweep(args, target, metrics, conc["levels"], rounds)
                finally:
                    stack.stop()
    except (Failure, KeyboardInterrupt) as e:
        log("stopped: %s" % e)
        results["error"] = str(e)
    finally:
        stack.stop()
    results["targets"] = targets(args, results) if results.get("bandwidth") else []
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["elapsed_seconds"] = round(time.time() - started, 1)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    text = markdown(results) if results.get("bandwidth") else ""
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(text)
    if plot(results, os.path.join(args.out, "concurrency.png")):
        log("wrote %s" % os.path.join(args.out, "concurrency.png"))
    print(text)
    log("wrote %s in %.0f s" % (os.path.join(args.out, "results.json"), results["elapsed_seconds"]))
    return 1 if "error" in results else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
