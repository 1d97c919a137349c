"""GPU decoding (``decoder="cuda"``, torchcodec's NVDEC decoder): frame exactness and pairs per second.

Needs a CUDA GPU and torchcodec (``pip install torchcodec`` matching the installed torch). For each test file:

1. exactness: :func:`~midway_plugin.data.video.seek_check.check_gpu_frames`, the GPU decoder's frames in the dataset's
   access patterns against a sequential CPU decode, on generated files of the layouts where seeking readers go
   wrong (MPEG-4 Part 2 in AVI with B-frames, H.264 with open GOPs, variable frame rate) and on closed-GOP H.264;
2. speed: items of :class:`~midway_plugin.data.video.VideoPairDataset` in folder mode (R = 5 pairs, dt in [15, 30],
   the decode-only transform) with ``decoder="cuda"``, independent and window sampling, at 256 px and 720p, in the
   training process; pairs per second, peak GPU memory, and the number of such processes 930 pairs/s would need.

    .venv/bin/python benchmarks/gpu_decode.py --seconds 5 --json runs/benchmarks/gpu/gpu_decode.json
"""

from __future__ import annotations

import argparse
import math
import subprocess
import time
from pathlib import Path

import torch
from bench_output import finish  # benchmarks/ is on sys.path when a script here runs
from loader import TARGETS, make_video

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.video.seek_check import check_gpu_frames
from midway_plugin.data.views import MidwayTransform
from midway_plugin.data.views.device_augment import PairGeometryTransform

#: Layouts where seeking readers go wrong (docs/video-seeking.md): name -> (extension, ffmpeg output options).
LAYOUTS: dict[str, tuple[str, list[str]]] = {
    "mpeg4_avi_bframes": (".avi", ["-c:v", "mpeg4", "-vtag", "XVID", "-q:v", "2", "-bf", "2", "-g", "100"]),
    "h264_open_gop": (
        ".mkv",
        [
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-x264-params",
            "keyint=60:min-keyint=60:scenecut=0:open-gop=1:bframes=3",
        ],
    ),
    "h264_vfr": (
        ".mkv",
        [
            "-vf",
            "setpts='(N+floor(N/3)*0.7)/(30*TB)'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-x264-params",
            "keyint=50:min-keyint=50:scenecut=0:bframes=2",
        ],
    ),
    "h264_closed_gop": (
        ".mp4",
        ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-x264-params", "keyint=50:min-keyint=50:scenecut=0:bframes=2"],
    ),
}


def layout_video(folder: Path, name: str) -> Path:
    """A 10 s 640x360 testsrc2 video in layout ``name`` (kept in ``folder``)."""
    import imageio_ffmpeg

    suffix, options = LAYOUTS[name]
    path = folder / f"{name}{suffix}"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=30",
                "-t",
                "10",
                *options,
                str(path),
            ],
            check=True,
        )
    return path


def rate(dataset: VideoPairDataset, seconds: float) -> float:
    """Pairs per second of ``dataset[0]`` (one opening of R pairs per call), GPU work included."""
    dataset[0]
    torch.cuda.synchronize()
    pairs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        item = dataset[0]
        pairs += int(item["frame_indices"].shape[0])
    torch.cuda.synchronize()
    return pairs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/benchmarks/videos")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to torch: this script is for a GPU machine")
    work = Path(args.workdir)
    result: dict = {"gpu": torch.cuda.get_device_name(0), "exactness": {}, "speed": {}}

    print(f"== GPU decode exactness on {result['gpu']} (against a sequential CPU decode)")
    for name in LAYOUTS:
        report = check_gpu_frames(layout_video(work / "layouts", name))
        result["exactness"][name] = {"exact": report.exact, "max_difference": report.max_difference}
        print(f"  {name:<20} {'exact' if report.exact else 'WRONG'}  {report.describe()}")

    print("\n== GPU decode speed (decode-only items, R = 5 pairs, one process)")
    transform = PairGeometryTransform(MidwayTransform())
    for label, size in (("256p", (456, 256)), ("720p", (1280, 720))):
        video = make_video(work / label / f"testsrc2_{size[0]}x{size[1]}.mp4", *size, 10, 30)
        for sampling in ("independent", "window"):
            dataset = VideoPairDataset(video.parent, transform=transform, repeat=5, decoder="cuda", sampling=sampling)
            torch.cuda.reset_peak_memory_stats()
            pairs_per_s = rate(dataset, args.seconds)
            peak = torch.cuda.max_memory_allocated() / 2**20
            needed = {target: math.ceil(pairs / pairs_per_s) for target, pairs in TARGETS.items()}
            result["speed"][f"{label} {sampling}"] = {
                "pairs_per_s": pairs_per_s,
                "peak_mib": peak,
                "processes_needed": needed,
            }
            print(
                f"  {label} {sampling:<12} {pairs_per_s:8.1f} pairs/s  peak {peak:7.0f} MiB  processes for "
                + ", ".join(f"{target}: {count}" for target, count in needed.items())
            )
    finish(result, args.json)


if __name__ == "__main__":
    main()
