"""`edge-digits web --build DIR`: the browser page as one self-contained static folder any host can serve.

The folder holds the page, its modules, the service worker, onnxruntime-web's files and the model (verified
against its set's manifest) under the paths the page uses (web/offline.json lists them), and checksums.json:
the SHA-256 and size of every file. It is built beside DIR and swapped in whole (build.staging), so DIR is the old site or the new
one, never half of either. Standard library only (and the staging helper).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from edge_digits.apps.web import MODELS_PREFIX, WEB_DIR, check_model_dir, check_web_dir
from edge_digits.errors import EdgeDigitsError
from edge_digits.runtime.manifest import verify_artifact
from edge_digits.runtime.trust import Trust, trust_from

FILE_LIST = "offline.json"  # the page's files, shared with the service worker (web/sw.js)
CHECKSUMS = "checksums.json"
SERVICE_WORKER = "sw.js"


def site_files(web_dir: Path = WEB_DIR) -> list[str]:
    """The page's files, relative to the page (web/offline.json), plus the list itself and the service worker."""
    try:
        listed = json.loads((web_dir / FILE_LIST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EdgeDigitsError(f"cannot read the page's file list {web_dir / FILE_LIST}: {error}") from None
    return [*listed, FILE_LIST, SERVICE_WORKER]


def source_of(name: str, web_dir: Path, model_dir: Path) -> Path:
    """Where a site file comes from: models/* from the export directory, everything else from the page."""
    prefix = MODELS_PREFIX.strip("/") + "/"
    return model_dir / name[len(prefix):] if name.startswith(prefix) else web_dir / name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_site(out: str | os.PathLike, model: str | os.PathLike | None = None, web_dir: Path = WEB_DIR,
               trust: Trust | None = None) -> dict:
    """Write the static site to `out` (replacing what the site owns there, keeping other files such as a
    host's CNAME); -> the checksums written. The model set is checked as `edge-digits web` checks it (its
    manifest, signed when `trust` has keys) and each model file is copied from the bytes verified against it.
    Nothing changes in `out` when anything is missing or does not verify."""
    from edge_digits.build.staging import StagedDirectory

    if Path(out).exists() and not Path(out).is_dir():
        raise EdgeDigitsError(f"--build must name a directory, got the file {out}")
    check_web_dir(web_dir)
    model_dir, manifest = check_model_dir(model, trust)
    names = site_files(web_dir)
    sources = {name: source_of(name, web_dir, model_dir) for name in names}
    missing = [str(path) for path in sources.values() if not path.is_file()]
    if missing:
        raise EdgeDigitsError(f"cannot build the site: missing {', '.join(missing)}")
    owned = {name.split("/", 1)[0] for name in names} | {CHECKSUMS, ".nojekyll"}
    with StagedDirectory(out, owned) as staged:
        try:
            for name, source in sources.items():
                target = staged.path / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.parent == model_dir:  # a model file: the bytes checked against the set's manifest
                    content = source.read_bytes()
                    verify_artifact(source, manifest, content)
                    target.write_bytes(content)
                else:
                    shutil.copyfile(source, target)
            checksums = {"files": {name: {"sha256": sha256_of(staged.path / name), "bytes": (staged.path / name).stat().st_size}
                                   for name in sorted(names)}}
            (staged.path / CHECKSUMS).write_text(json.dumps(checksums, indent=2) + "\n", encoding="utf-8")
            (staged.path / ".nojekyll").write_text("")  # GitHub Pages: serve node_modules/ as it is
        except OSError as error:
            raise EdgeDigitsError(f"cannot write the site beside {out}: {error.strerror or error}; {out} is unchanged") from None
        staged.commit()
    return checksums


def run_build(args) -> int:
    """`edge-digits web --build DIR`: build, then say what was written."""
    checksums = build_site(args.build, args.model, trust=trust_from(args.trust, args.version_record))
    total = sum(entry["bytes"] for entry in checksums["files"].values())
    print(f"wrote {len(checksums['files'])} files ({total / 1e6:.1f} MB) and {CHECKSUMS} to {args.build}; "
          "serve it over HTTPS (or localhost) from any static host")
    return 0
