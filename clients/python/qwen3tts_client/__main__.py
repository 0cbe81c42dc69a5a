"""python3 -m qwen3tts_client --server HOST:PORT --text TEXT [--speaker NAME | --design TEXT] --out out.wav"""

import argparse
import sys

import grpc

from qwen3tts_client.client import TtsClient


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="qwen3tts_client", description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--speaker")
    parser.add_argument("--design")
    parser.add_argument("--voice-id")
    parser.add_argument("--instruct", default="")
    parser.add_argument("--language", default="auto")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--greedy", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=0.0)
    parser.add_argument("--out", default="out.wav")
    args = parser.parse_args(argv)
    with TtsClient(args.server) as client:
        try:
            result = client.synthesize(args.text, speaker=args.speaker, design=args.design, voice_id=args.voice_id,
                                       instruct=args.instruct, language=args.language, seed=args.seed,
                                       greedy=args.greedy, max_seconds=args.max_seconds)
        except grpc.RpcError as error:
            print(f"qwen3tts_client: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    result.write_wav(args.out)
    print(f"{args.out}: {result.frames} frames, time to first audio {result.time_to_first_audio * 1e3:.0f} ms",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
