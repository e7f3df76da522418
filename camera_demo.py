#!/usr/bin/env python3
"""Read handwritten digits live from a camera, a video, an image or a folder of images.

The same program as `edge-digits camera`, kept as a script so `python camera_demo.py` works in a
checkout; see `python camera_demo.py --help`.
"""

import sys

from edge_digits.apps.camera import main

if __name__ == "__main__":
    sys.exit(main())
