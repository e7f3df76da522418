"""Raspberry Pi camera modules (CSI) as a frame source for the camera demo, through picamera2.

On Raspberry Pi OS Bookworm and later a CSI camera is driven by libcamera and is invisible to
cv2.VideoCapture(0); picamera2 (apt: python3-picamera2) is its Python API. Imported only for
`--source picamera`, so other machines never need it.
"""

from __future__ import annotations

from typing import Any, Iterator

from edge_digits.errors import EdgeDigitsError, error_line

SOURCE_NAME = "picamera"
FRAME_SIZE = (640, 480)  # (width, height): the size the reader and the synthetic benchmarks are tuned for
MISSING_HINT = (
    "--source picamera needs the picamera2 module, which is not importable here; on Raspberry Pi OS run "
    "`sudo apt install python3-picamera2` and create your venv with --system-site-packages"
)


class PicameraSource:
    """Frames of the first CSI camera in BGR order (picamera2's "RGB888" layout), like cv2.VideoCapture's."""

    def __init__(self, size: tuple[int, int] = FRAME_SIZE):
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise EdgeDigitsError(MISSING_HINT) from None
        self.name, self.fps, self.camera = "Pi camera (picamera2)", None, None
        try:
            self.camera = Picamera2()
            self.camera.configure(self.camera.create_video_configuration(main={"format": "RGB888", "size": size}))
            self.camera.start()
        except Exception as error:  # picamera2 raises IndexError/RuntimeError and libcamera errors
            self.close()
            raise EdgeDigitsError(f"cannot start the Pi camera: {error_line(error)}; is a camera module "
                                  "connected and enabled, and not used by another program?") from None

    def frames(self) -> Iterator[tuple[str | None, Any]]:
        """Yield frames until the camera fails; picamera2 blocks until each frame is ready."""
        while True:
            try:
                frame = self.camera.capture_array("main")
            except Exception as error:
                raise EdgeDigitsError(f"the Pi camera stopped delivering frames: {error_line(error)}") from None
            yield None, frame

    def close(self) -> None:
        """Stop and release the camera so the next program can open it."""
        if self.camera is None:
            return
        camera, self.camera = self.camera, None
        try:
            camera.stop()
        finally:
            camera.close()
