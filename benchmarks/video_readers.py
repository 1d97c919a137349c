"""Benchmark: speed and exactness of the video readers on files, in the dataset's access patterns.

For each file: the seek check (``check_random_access``: time, verdict, chosen reader), then for every reader the
time per item of the two dataset modes and how many returned frames differ from the sequential decode:

* ``folder``: a fresh reader per item, 5 pairs (t, t + dt), dt in [15, 30], one sorted batch of 10 frames;
* ``single``: one kept reader, items in shuffled order, 1 pair each (2 frames).

    .venv/bin/python benchmarks/video_readers.py clip.avi other.mkv --items 20

Make test files with ffmpeg (e.g. the one of imageio-ffmpeg), for example MPEG-4 Part 2 in AVI with B-frames:
``ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -t 30 -c:v mpeg4 -vtag XVID -q:v 3 -bf 2 -g 100 clip.avi``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from midway_plugin.data.video.readers import READERS, as_numpy, open_reader
from midway_plugin.data.video.seek_check import check_random_access


def _frames(reader: object, indices: list[int]) -> np.ndarray:
    return as_numpy(reader.get_batch(indices))  # type: ignore[attr-defined]


def bench(path: str, items: int, seed: int) -> None:
    report = check_random_access(path)
    print(f"{path}: check {report.seconds:.2f} s, reader {report.reader!r}; {report.describe()}")
    num_frames = len(open_reader("decord", path))
    rng = np.random.default_rng(seed)
    folder = []
    for _ in range(items):
        dt = rng.integers(15, 31, 5)
        t = (rng.random(5) * (num_frames - dt)).astype(int)
        folder.append(sorted({*t.tolist(), *(t + dt).tolist()}))
    single = []
    for t in rng.permutation(num_frames - 30)[:items]:
        single.append([int(t), int(t) + int(rng.integers(15, 31))])

    truth_reader = open_reader("sequential", path)
    needed = sorted({i for batch in folder + single for i in batch})
    truth = dict(zip(needed, _frames(truth_reader, needed)))

    for name in READERS:
        start, wrong = time.perf_counter(), 0
        for batch in folder:
            got = _frames(open_reader(name, path), batch)
            wrong += sum(np.abs(g.astype(int) - truth[i]).mean() > 8 for g, i in zip(got, batch))
        folder_ms = (time.perf_counter() - start) / items * 1000
        start, kept, wrong_single = time.perf_counter(), open_reader(name, path), 0
        for batch in single:
            got = _frames(kept, batch)
            wrong_single += sum(np.abs(g.astype(int) - truth[i]).mean() > 8 for g, i in zip(got, batch))
        single_ms = (time.perf_counter() - start) / items * 1000
        print(
            f"  {name:<10} folder item {folder_ms:8.1f} ms ({wrong}/{items * 10} frames wrong)   "
            f"single item {single_ms:8.1f} ms ({wrong_single}/{items * 2} frames wrong)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="video files")
    parser.add_argument("--items", type=int, default=20, help="items timed per mode and reader")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path in args.paths:
        bench(path, args.items, args.seed)


if __name__ == "__main__":
    main()
