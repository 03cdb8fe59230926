"""Frames from video files through PyAV (FFmpeg), one sequence per file.

Each file's first video stream is decoded in order; a frame's timestamp is its
presentation time minus the file's first, in seconds, and its name `file#k`. The rate
is the stream's average rate. Files are opened when the source is (a file that cannot
be opened is a problem and skipped, or a DatasetError when none can); a decode error
while frames are read is a FrameError naming the file and the frame. `labels` maps a
file stem to the Labels every frame of that file carries (BDD100K's per-video
attributes).

API
    VIDEO_SUFFIXES
    VideoSource(paths, layout="video", labels=None, root=None)
        iter / len -> Frame;  .layout .root .paths .fps .timed .problems
        .size -> (width, height) of the first video;  .count(path) -> frames by demuxing
        .frames_of(path, start=0) -> the frames of one file;  .header(path) -> (fps, size, n)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import av

from fognet.data.source import Frame, Labels
from fognet.errors import DatasetError, FrameError

VIDEO_SUFFIXES = (".mov", ".mp4", ".avi", ".mkv", ".webm", ".m4v")


def _why(exc: Exception) -> str:
    """FFmpeg's reason without the file name it repeats (we name the file ourselves)."""
    return getattr(exc, "strerror", None) or str(exc)


def _probe(path: Path) -> tuple[float, tuple[int, int], int]:
    """(rate, (width, height), frames from the header or 0) of a file's first video stream."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise DatasetError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        return fps, (stream.codec_context.width, stream.codec_context.height), int(stream.frames or 0)


class VideoSource:
    """The frames of one or more video files, decoded in file order."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        layout: str = "video",
        labels: Mapping[str, Labels] | None = None,
        root: Path | None = None,
    ) -> None:
        self.layout, self.timed = layout, True
        self.labels = dict(labels or {})
        problems, self.paths, self._header = [], [], {}
        for p in map(Path, paths):
            try:
                fps, size, frames = _probe(p)
            except (av.FFmpegError, OSError) as exc:
                problems.append(f"{p}: cannot open as video ({_why(exc)})")
                continue
            except DatasetError as exc:
                problems.append(str(exc))
                continue
            self.paths.append(p)
            self._header[p] = (fps, size, frames)
        self.problems: tuple[str, ...] = tuple(problems)
        if not self.paths:
            if not problems:
                raise DatasetError(f"{root or '.'}: no video files ({', '.join(VIDEO_SUFFIXES)})")
            if len(problems) == 1:
                raise DatasetError(problems[0])
            raise DatasetError(f"{root or '.'}: none of its {len(problems)} videos is readable; first: {problems[0]}")
        self.root = root or self.paths[0]
        self.fps = self._header[self.paths[0]][0] or 30.0
        self.size: tuple[int, int] = self._header[self.paths[0]][1]
        self._len: int | None = None

    def header(self, path: Path) -> tuple[float, tuple[int, int], int]:
        """(rate, (width, height), frames or 0) from the file's header, read when opened."""
        return self._header[path]

    def count(self, path: Path) -> int:
        """Frames in `path`: the header's count, or its video packets when the header has none."""
        frames = self._header[path][2]
        if frames:
            return frames
        with av.open(str(path)) as container:
            return sum(1 for pkt in container.demux(video=0) if pkt.size)

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(self.count(p) for p in self.paths)
        return self._len

    def frames_of(self, path: Path, start: int = 0) -> Iterator[Frame]:
        """The frames of one of the files, indexed from `start`."""
        labels = self.labels.get(path.stem)
        k, t0 = 0, None
        try:
            with av.open(str(path)) as container:
                for vf in container.decode(video=0):
                    t = float(vf.time if vf.time is not None else k / self.fps)
                    t0 = t if t0 is None else t0
                    image = vf.to_ndarray(format="rgb24")
                    yield Frame(start + k, image, t - t0, labels, f"{path}#{k}", path.stem)
                    k += 1
        except (av.FFmpegError, OSError) as exc:
            raise FrameError(f"{path}#{k}: cannot decode video frame {k} ({_why(exc)})") from exc

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for path in self.paths:
            for frame in self.frames_of(path, index):
                index = frame.index + 1
                yield frame
