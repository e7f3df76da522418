"""The camera demo: read handwritten digits live from a camera, a video, an image or a folder of images.

A window shows boxes, digits, confidences and FPS; with --headless (or no display) each frame
becomes one JSON line on stdout. Run as `edge-digits camera` or `python camera_demo.py`; it uses
the runtime tier only and never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")  # keep OpenCV's C++ warnings out of the one-line errors
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # and FFmpeg's own (AV_LOG_QUIET)

import cv2  # noqa: E402

from edge_digits.errors import EdgeDigitsError  # noqa: E402
from edge_digits.options import (  # noqa: E402
    Parser,
    add_model_options,
    at_least,
    positive_int,
    reader_from_args,
)
from edge_digits.runtime.draw import draw_reading  # noqa: E402
from edge_digits.runtime.imageio import (  # noqa: E402
    IMAGE_SUFFIXES,
    images_in,
    load_image,
    open_video_writer,
)
from edge_digits.runtime.smoothing import ReadingSmoother  # noqa: E402

if TYPE_CHECKING:
    from edge_digits.apps.pi_camera import PicameraSource  # imported for --source picamera only

PROG = "camera_demo"
WINDOW = "edge-digits camera demo (q or Esc quits)"
QUIT_KEYS = {ord("q"), ord("Q"), 27}
RETRY_SLEEP = 0.2  # seconds between attempts to grab a frame from a camera


class CaptureSource:
    """A camera index or a video file read through cv2.VideoCapture."""

    def __init__(self, source: int | Path, retries: int, loop: bool):
        self.source, self.retries, self.loop = source, retries, loop
        self.is_camera = isinstance(source, int)
        self.name = f"camera {source}" if self.is_camera else str(source)
        self.capture = self._open()
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or None

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.source if self.is_camera else str(self.source))
        if not capture.isOpened():
            capture.release()
            hint = "check it is connected and not used by another program" if self.is_camera else "is it a video file OpenCV can decode?"
            raise EdgeDigitsError(f"cannot open {self.name}: {hint}")
        return capture

    def frames(self) -> Iterator[tuple[str | None, Any]]:
        """Yield frames; a camera is retried `retries` times per failed grab, a video may loop."""
        failures = produced = 0
        while True:
            ok, frame = self.capture.read()
            if ok and frame is not None:
                failures, produced = 0, produced + 1
                yield None, frame
            elif self.is_camera:
                failures += 1
                if failures > self.retries:
                    if produced:  # a camera that never delivered is reported as "produced no frames"
                        print(f"{PROG}: {self.name} stopped delivering frames (retried {self.retries} times); stopping", file=sys.stderr)
                    return
                time.sleep(RETRY_SLEEP)
            elif self.loop and produced:
                self.capture.release()
                self.capture, produced = self._open(), 0
            else:
                return

    def close(self) -> None:
        self.capture.release()


class ImageSource:
    """One image file, or every image in a directory (sorted by name); unreadable ones are skipped."""

    def __init__(self, path: Path, loop: bool):
        self.name, self.loop, self.fps = str(path), loop, None
        if path.is_dir():
            self.files = images_in(path)
        else:
            self.files = [path]

    def frames(self) -> Iterator[tuple[str | None, Any]]:
        while True:
            produced = 0
            for file in self.files:
                try:
                    image = load_image(file)
                except EdgeDigitsError as error:
                    if len(self.files) == 1:
                        raise
                    print(f"{PROG}: warning: skipping {error}", file=sys.stderr)
                    continue
                produced += 1
                yield file.name, image
            if not (self.loop and produced):
                return

    def close(self) -> None:
        pass


def open_source(spec: str, retries: int, loop: bool) -> CaptureSource | ImageSource | PicameraSource:
    """A camera index ("0"), "picamera" (a Pi camera module), a video file, an image file or a directory of images."""
    if spec.strip().lower() == "picamera":
        from edge_digits.apps.pi_camera import PicameraSource

        return PicameraSource()
    if re.fullmatch(r"\d+", spec.strip()):
        return CaptureSource(int(spec), retries, loop)
    path = Path(spec).expanduser()
    if not path.exists():
        raise EdgeDigitsError(f"source not found: {path} (expected a camera index, a video file, an image file or a directory of images)")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, loop)
    return CaptureSource(path, retries, loop)


def has_display() -> bool:
    """False on Linux without X11 or Wayland, where OpenCV's GUI would abort the process."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def open_window() -> bool:
    """Open the preview window; False (run headless) when the GUI cannot start.

    Qt aborts the whole process on an unreachable display, so a child process tries it first.
    """
    import subprocess

    probe = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
    try:
        ok = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    try:
        if ok:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            return True
    except cv2.error:
        pass
    return False


def show(image: Any, wait_ms: int) -> bool:
    """Display a frame; False when the user pressed q/Esc or closed the window."""
    try:
        cv2.imshow(WINDOW, image)
        key = cv2.waitKey(wait_ms) & 0xFF
        return key not in QUIT_KEYS and cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) >= 1
    except cv2.error:
        return False


def rss_mb() -> float:
    """Resident memory of this process in MB (current on Linux, peak elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 1024)


def frame_record(index: int, name: str | None, raw: Any, shown: Any, fps: float) -> dict[str, Any]:
    """The JSON line for one frame: the smoothed reading plus the raw text of this frame."""
    record: dict[str, Any] = {"frame": index}
    if name is not None:
        record["source"] = name
    record["text"] = shown.text
    record["raw_text"] = raw.text
    record["digits"] = [
        {"digit": int(d.digit), "confidence": round(float(d.confidence), 4), "box": [int(v) for v in d.box], "line": int(d.line)}
        for d in shown.digits
    ]
    record["fps"] = round(fps, 2)
    record["rss_mb"] = round(rss_mb(), 1)
    return record


def run(args: argparse.Namespace) -> int:
    source = open_source(args.source, args.retries, args.loop)
    writer = None
    try:
        reader = reader_from_args(args)
        window = False
        if not args.headless:
            window = has_display() and open_window()
            if not window:
                print(f"{PROG}: no usable display; running headless (one JSON line per frame on stdout)", file=sys.stderr)
        hold = window and isinstance(source, ImageSource)  # still images wait for a key press
        smoother = ReadingSmoother(args.smooth)
        count, fps, last = 0, 0.0, time.perf_counter()
        for name, frame in source.frames():
            raw = reader.read(frame)
            shown = smoother.update(raw)
            now = time.perf_counter()
            instant = 1.0 / max(now - last, 1e-6)
            fps, last = (instant if count == 0 else 0.9 * fps + 0.1 * instant), now
            if not window:
                print(json.dumps(frame_record(count, name, raw, shown, fps)), flush=True)
            count += 1
            if window or args.record:
                annotated = draw_reading(frame, shown, fps)
                if args.record:
                    if writer is None:
                        size = (annotated.shape[1], annotated.shape[0])
                        writer = open_video_writer(args.record, source.fps or 10.0, size)
                    if (annotated.shape[1], annotated.shape[0]) != size:
                        annotated = cv2.resize(annotated, size, interpolation=cv2.INTER_AREA)
                    writer.write(annotated)
                if window and not show(annotated, 0 if hold else 1):
                    break
            if args.max_frames and count >= args.max_frames:
                break
        if count == 0:
            raise EdgeDigitsError(f"{source.name} produced no frames")
    finally:
        source.close()
        if writer is not None:
            writer.release()
        if not args.headless:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass
    return 0


DESCRIPTION = "Read handwritten digits live from a camera, video, image or image directory."


def add_camera_arguments(parser: argparse.ArgumentParser) -> None:
    """The camera demo's options, shared by `edge-digits camera` and `python camera_demo.py`."""
    parser.add_argument("--source", default="0", help="camera index (default 0), picamera (a Raspberry Pi camera module, via picamera2), "
                                                      "video file, image file or directory of images")
    add_model_options(parser)
    parser.add_argument("--headless", action="store_true", help="no window: print one JSON line per frame (automatic without a display)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
    parser.add_argument("--loop", action="store_true", help="restart a video or image source when it ends (for soak runs)")
    parser.add_argument("--record", default=None, metavar="OUT.mp4", help="write annotated frames to a video (.mp4 or .avi)")
    parser.add_argument("--smooth", type=positive_int, default=5, metavar="N", help="majority vote over the last N frames (1 = off; default 5)")
    parser.add_argument("--retries", type=at_least(0), default=3, help="retries when a camera frame grab fails (default 3)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(prog=PROG, description=DESCRIPTION)
    add_camera_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and OpenCV logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.debug:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_WARNING)
    try:
        return run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, EdgeDigitsError):
            message = str(error)
        else:
            message = f"unexpected {error.__class__.__name__}: {error} (rerun with --debug for the traceback)"
        print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
