"""Benchmark: frame pairs per second of the data loader, today's CPU-augment path vs the accelerator-augment path.

For each video (by default two generated H.264 files, 456x256 and 1280x720, 30 fps, 10 s, one keyframe a second),
in ``folder`` mode (one opening = R = 5 pairs, dt in [15, 30], all frames of an opening in one sorted batch):

* ``today (CPU augment)``: :class:`~midway_plugin.data.video.VideoPairDataset` +
  :class:`~midway_plugin.data.views.MidwayTransform` (decode + PIL crops of 2 motion + 2 x (2 global + 8 local)
  views per pair);
* ``new (decode only)``: the same dataset with :class:`~midway_plugin.data.views.device_augment.PairGeometryTransform`
  (decode + crop boxes; the views are rendered on the accelerator);
* ``new, pyav``, ``new, window``, ``new, window + pyav``: the decode-only path with ``decoder="pyav"`` (the
  keyframe-aware PyAV reader), with ``sampling="window"`` (the R pairs inside one window of 1.5 x the largest
  gap), and with both;
* ``decord``, ``opencv (seek)``, ``pyav (keyframe)``: the bare readers on the same pairs (independent pairs), and
  ``decord, window pairs``, ``pyav, window pairs`` on window-sampled pairs;
* ``pre-extracted JPEG``: the same number of frames read from JPEG files extracted beforehand;
* ``render on DEVICE``: :class:`~midway_plugin.data.views.device_augment.DeviceAugment` on ``--render-device`` (CPU by
  default, for scale only: the accelerator path renders on the GPU, ``benchmarks/gpu.sh``);
* with ``--workers N``: both dataset paths through a DataLoader with N worker processes.

Every measurement runs ``--seconds`` and is repeated in ``--rounds`` interleaved rounds (median reported); the load
average is printed with the numbers. It also reports the decode resolution the drawn crops need (crop boxes are
drawn before rendering, so a reader could decode smaller when no crop would be upsampled).

    .venv/bin/python benchmarks/loader.py --seconds 3 --rounds 3 --workers 2 --json runs/benchmarks/loader.json
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from bench_output import finish  # benchmarks/ is on sys.path when a script here runs
from torch.utils.data import DataLoader

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.video.pair_sampling import window_frames
from midway_plugin.data.video.readers import as_numpy, open_reader
from midway_plugin.data.views import MidwayTransform
from midway_plugin.data.views.device_augment import DeviceAugment, PairGeometryTransform, collate_decoded

REPEAT = 5
#: Pairs per second the GPU needs (docs/performance.md): the official run (ViT-S, 2 A100s) and one H100 at 40 % MFU.
TARGETS = {"official pace (2 x A100)": 88.0, "one H100 at 40 % bf16 MFU": 930.0}
#: The decode-only dataset's other decoding paths (VideoPairDataset arguments).
VARIANTS: dict[str, dict[str, str]] = {
    "new, pyav (decode only)": {"decoder": "pyav"},
    "new, window (decode only)": {"sampling": "window"},
    "new, window + pyav (decode only)": {"sampling": "window", "decoder": "pyav"},
}


def make_video(path: Path, width: int, height: int, seconds: int, gop: int) -> Path:
    """An H.264 test video from ffmpeg's testsrc2 pattern (imageio-ffmpeg's ffmpeg binary)."""
    if path.exists():
        return path
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size={width}x{height}:rate=30", "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-g", str(gop), str(path)],
        check=True,
    )  # fmt: skip
    return path


def pairs_per_second(fn: Callable[[], int], seconds: float) -> float:
    """Calls ``fn`` (returning pairs produced) until ``seconds`` have passed; pairs per second."""
    flush = getattr(fn, "flush", None)
    if flush is not None:
        flush()
    pairs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        pairs += fn()
    return pairs / (time.perf_counter() - start)


def _opening_indices(num_frames: int, rng: np.random.Generator, window: int | None = None) -> list[int]:
    """The sorted frames of one opening: R independent pairs, or R pairs inside one window of ``window`` frames."""
    dt = rng.integers(15, 31, REPEAT)
    start, length = 0, num_frames
    if window is not None:
        length = min(window, num_frames)
        start = int(rng.integers(0, num_frames - length + 1))
    t = start + (rng.random(REPEAT) * (length - dt)).astype(int)
    return sorted({*t.tolist(), *(t + dt).tolist()})


def cases_for(
    video: Path, workers: int, render_device: str = "cpu", render_items: int = 1
) -> dict[str, Callable[[], int]]:
    folder = video.parent
    transform = MidwayTransform()
    today = VideoPairDataset(folder, transform=transform, repeat=REPEAT, seek_check="off")
    num_frames = today.videos[0].num_frames
    geometry = PairGeometryTransform(transform)
    decoded = VideoPairDataset(folder, transform=geometry, repeat=REPEAT, seek_check="off")
    datasets = {
        name: VideoPairDataset(folder, transform=geometry, repeat=REPEAT, seek_check="off", **kwargs)
        for name, kwargs in VARIANTS.items()
    }
    window = window_frames(decoded.delta_range(0), datasets["new, window (decode only)"].window, num_frames)
    rng = np.random.default_rng(0)
    augment = DeviceAugment(transform)
    batch = collate_decoded([decoded[0] for _ in range(render_items)])["views"]
    flat = {k: v.flatten(0, 1).to(render_device) for k, v in batch.items()}

    def render() -> int:
        augment(flat)
        if render_device.startswith("cuda"):
            torch.cuda.synchronize()
        return REPEAT * render_items

    def reader_case(name: str, window: int | None = None) -> Callable[[], int]:
        def run() -> int:
            as_numpy(open_reader(name, video).get_batch(_opening_indices(num_frames, rng, window)))
            return REPEAT

        return run

    def item_case(dataset: VideoPairDataset) -> Callable[[], int]:
        return lambda: (dataset[0], REPEAT)[1]

    cases: dict[str, Callable[[], int]] = {
        "today (CPU augment)": item_case(today),
        "new (decode only)": item_case(decoded),
        **{name: item_case(dataset) for name, dataset in datasets.items()},
        "decord": reader_case("decord"),
        "opencv (seek)": reader_case("opencv"),
        "pyav (keyframe)": reader_case("pyav"),
        "decord, window pairs": reader_case("decord", window),
        "pyav, window pairs": reader_case("pyav", window),
        f"render on {render_device} ({REPEAT * render_items} pairs/call)": render,
    }
    cases["pre-extracted JPEG (OpenCV)"] = _jpeg_case(video, rng)
    if workers:
        window_pyav = "new, window + pyav (decode only)"
        for name, dataset in (
            ("today (CPU augment)", today),
            ("new (decode only)", decoded),
            (window_pyav, datasets[window_pyav]),
        ):
            cases[f"{name}, {workers} workers"] = _loader_case(dataset, workers)
    return cases


def _jpeg_case(video: Path, rng: np.random.Generator, count: int = 30) -> Callable[[], int]:
    """Reading pairs from frames extracted beforehand as JPEG (quality 95): the 'pre-extracted frames' option."""
    import cv2

    folder = video.parent.parent / f"{video.stem}_jpeg"
    if not folder.exists():
        folder.mkdir(parents=True)
        frames = as_numpy(open_reader("decord", video).get_batch(list(range(count))))
        for i, frame in enumerate(frames):
            cv2.imwrite(
                str(folder / f"{i:06d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
            )
    files = sorted(folder.glob("*.jpg"))

    def run() -> int:
        for index in rng.integers(0, len(files), 2 * REPEAT):
            cv2.cvtColor(cv2.imread(str(files[index])), cv2.COLOR_BGR2RGB)
        return REPEAT

    return run


def _loader_case(dataset: VideoPairDataset, workers: int) -> Callable[[], int]:
    """Pairs from a DataLoader with ``workers`` processes (started once, before timing)."""
    loader = DataLoader(
        dataset,
        batch_size=1,
        sampler=[0] * 10**6,
        num_workers=workers,
        collate_fn=collate_decoded,
        persistent_workers=True,
        prefetch_factor=2,
    )
    iterator = iter(loader)
    next(iterator)  # workers started

    def run() -> int:
        next(iterator)
        return REPEAT

    def flush() -> None:  # items prefetched while other cases ran would count as instant: take them untimed
        for _ in range(2 * workers):
            next(iterator)

    run.flush = flush  # type: ignore[attr-defined]
    return run


def decode_cost(video: Path, gop: int, rounds: int = 3) -> dict[str, float]:
    """Milliseconds per frame decoded from a keyframe: decord (one frame returned / all returned) vs OpenCV
    (grab without colour conversion + one retrieve / read and convert all)."""
    import cv2
    import decord

    def median_ms(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3 / gop

    def capture() -> object:
        return cv2.VideoCapture(str(video), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])

    def grab_then_retrieve() -> None:
        cap = capture()
        for _ in range(gop):
            cap.grab()
        cap.retrieve()

    def read_all() -> None:
        cap = capture()
        for _ in range(gop):
            cap.read()

    last = 2 * gop - 1  # the last frame of the second GOP: decoded from keyframe `gop`
    return {
        "decord, last frame of a GOP": median_ms(
            lambda: decord.VideoReader(str(video), num_threads=1).get_batch([last]).asnumpy()
        ),
        "decord, every frame of a GOP": median_ms(
            lambda: decord.VideoReader(str(video), num_threads=1).get_batch(list(range(gop, last + 1))).asnumpy()
        ),
        "opencv, grab a GOP + retrieve 1": median_ms(grab_then_retrieve),
        "opencv, read (convert) a GOP": median_ms(read_all),
    }


def needed_decode_scale(transform: MidwayTransform, height: int, width: int, openings: int = 2000) -> np.ndarray:
    """Per opening (R pairs), the smallest decode scale at which no crop is upsampled more than at full size."""
    geometry = PairGeometryTransform(transform)
    sizes = {
        "motion_box": transform.motion.crop_size,
        "global_boxes": transform.dino.global_crop_size,
        "local_boxes": transform.dino.local_crop_size,
    }
    scales = []
    for _ in range(openings):
        need = 0.0
        for _ in range(REPEAT):
            g = geometry.geometry(height, width)
            for key, size in sizes.items():
                boxes = g[key].reshape(-1, 4)
                need = max(need, float((size / boxes[:, 2:].min(dim=1).values).max()))
        scales.append(min(1.0, need))
    return np.array(scales)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", help="video files (default: generated 256 px and 720p H.264)")
    parser.add_argument("--workdir", default="runs/benchmarks/videos", help="where generated videos are kept")
    parser.add_argument("--gop", type=int, default=30, help="keyframe interval of generated videos")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="also measure DataLoaders with this many workers")
    parser.add_argument("--render-device", default="cpu", help="device of the 'render' case (e.g. cuda)")
    parser.add_argument("--render-items", type=int, default=1, help="openings (x 5 pairs) rendered per call")
    parser.add_argument(
        "--decode-cost",
        action="store_true",
        help="only print the per-frame decode cost of decord and OpenCV (generated videos: --gop)",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    videos = [Path(v) for v in args.videos] or [
        make_video(Path(args.workdir) / "256p" / "testsrc2_456x256.mp4", 456, 256, 10, args.gop),
        make_video(Path(args.workdir) / "720p" / "testsrc2_1280x720.mp4", 1280, 720, 10, args.gop),
    ]
    load = os.getloadavg()
    print(
        f"# loader benchmark  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  cpus {os.cpu_count()}  torch threads 1"
        f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}  ({args.seconds:g} s x {args.rounds} rounds)"
    )
    result: dict = {"load_average_before": load, "seconds": args.seconds, "rounds": args.rounds, "videos": {}}
    if args.decode_cost:
        for video in videos:
            costs = decode_cost(video, args.gop, args.rounds)
            print(f"\n{video.name}: ms per frame decoded from a keyframe ({args.gop} frames)")
            for name, ms in costs.items():
                print(f"  {name:<34} {ms:6.2f}")
            result["videos"][video.name] = {"decode_ms_per_frame": costs}
        finish(result, args.json)
        return
    for video in videos:
        cases = cases_for(video, args.workers, args.render_device, args.render_items)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                times[name].append(pairs_per_second(fn, args.seconds))
        info = VideoPairDataset(video.parent, seek_check="off").videos[0]
        entry = {name: {"pairs_per_s": statistics.median(v), "rounds": v} for name, v in times.items()}
        today, new = entry["today (CPU augment)"]["pairs_per_s"], entry["new (decode only)"]["pairs_per_s"]
        print(f"\n{video.name} ({info.width}x{info.height}, {info.num_frames} frames)")
        print(f"  {'path':<46} {'pairs/s':>8}   rounds")
        for name, value in entry.items():
            rounds = " ".join(f"{r:.2f}" for r in value["rounds"])
            print(f"  {name:<46} {value['pairs_per_s']:>8.2f}   {rounds}")
        print(f"  per worker: new / today = {new / today:.2f}x (goal at 720p: >= 3x)")
        for name in ("new (decode only)", *VARIANTS):
            rate = entry[name]["pairs_per_s"]
            print(
                f"  {name}: {rate / new:.2f}x new (decode only); decode workers for "
                + ", ".join(f"{target}: {math.ceil(pairs / rate)}" for target, pairs in TARGETS.items())
            )
        needed = {name: math.ceil(rate / new) for name, rate in TARGETS.items()}
        entry["workers_needed_by_path"] = {
            name: {target: math.ceil(pairs / entry[name]["pairs_per_s"]) for target, pairs in TARGETS.items()}
            for name in ("new (decode only)", *VARIANTS)
        }
        scale = needed_decode_scale(MidwayTransform(), info.height, info.width, openings=300)
        print(
            f"  decode scale the crops need per opening: median {np.median(scale):.2f}, "
            f"{(scale >= 1.0).mean() * 100:.0f} % need full resolution"
        )
        entry["workers_needed"] = needed
        entry["decode_scale_needed"] = {
            "median": float(np.median(scale)),
            "full_resolution": float((scale >= 1).mean()),
        }
        result["videos"][f"{video.name} {info.width}x{info.height}"] = entry
    finish(result, args.json)


if __name__ == "__main__":
    main()
