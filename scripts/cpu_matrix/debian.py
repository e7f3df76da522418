"""What the emulated targets need, all from the host's own Debian mirror and package index: static qemu-user 10.x
(bookworm-backports; bookworm's 7.2 breaks onnxruntime), arm64 Debian roots, and the aarch64 wheels of the runtime
tier. Downloads are cached; the host's apt configuration is read, never changed."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cpu_matrix.steps import CheckFailed, log, run

REPO = Path(__file__).resolve().parents[2]
QEMU_DEB = "qemu-user"
QEMU_SUITE = "bookworm-backports"
QEMU_MIN_MAJOR = 8
QEMU_BINARIES = {"aarch64": "qemu-aarch64", "x86_64": "qemu-x86_64"}
DEBIAN_SUITES = {"bullseye", "bookworm", "trixie", "forky", "sid", "oldstable", "stable", "testing", "unstable"}
# The four runtime dependencies, installed at the host's versions so only the machine differs.
RUNTIME_DISTRIBUTIONS = ("numpy", "onnxruntime", "ai-edge-litert", "opencv-python")
# opencv-python (the GUI build the camera window needs) loads libGL, glib and xcb at import.
ROOT_PACKAGES = ("libstdc++6", "libgl1", "libxcb1")


@dataclass(frozen=True)
class Release:
    """One Raspberry Pi OS generation: its Debian suite, CPython and glibc."""

    suite: str
    python: str
    glib_package: str
    glibc_minor: int

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def platform_tags(self) -> list[str]:
        """pip's --platform list: every manylinux_2_N_aarch64 this glibc runs (one tag alone misses wheels)."""
        return [f"manylinux_2_{minor}_aarch64" for minor in range(17, self.glibc_minor + 1)] + ["manylinux2014_aarch64"]


RELEASES = {
    "bookworm": Release("bookworm", "3.11", "libglib2.0-0", 36),
    "trixie": Release("trixie", "3.13", "libglib2.0-0t64", 41),
}


def apt_sources(etc: Path = Path("/etc/apt")) -> list[tuple[str, list[str], list[str]]]:
    """(URI, suites, components) of every enabled `deb` source: one-line .list files and deb822 .sources files."""
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    sources = []
    for path in files:
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
                if len(words) >= 3 and words[0] == "deb":
                    sources.append((words[1], [words[2]], words[3:]))
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        for paragraph in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            fields = {}
            for line in paragraph.splitlines():
                if line.strip() and not line.lstrip().startswith("#") and ":" in line and not line[0].isspace():
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"])[0].lower() != "no":
                sources.extend((uri, fields.get("suites", []), fields.get("components", [])) for uri in fields.get("uris", []))
    return sources


def debian_mirror(etc: Path = Path("/etc/apt")) -> str:
    """The host's Debian archive (a release suite with the `main` component, not the security archive), as its apt
    sources name it; CheckFailed without one. Vendors' repositories named after a release carry no `main`."""
    for uri, suites, components in apt_sources(etc):
        if "main" in components and any(suite.split("-")[0] in DEBIAN_SUITES and not suite.endswith("-security")
                                        for suite in suites):
            return uri.rstrip("/")
    raise CheckFailed(f"no Debian archive among the host's apt sources ({etc}/sources.list*): the emulated targets "
                      "take qemu-user from bookworm-backports and arm64 roots from that archive")


def apt_install(packages: list[str]) -> None:
    """Install missing host tools (root + apt only); waits for other apt users' lock."""
    log(f"apt-get install {' '.join(packages)}")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    options = ["-o", "DPkg::Lock::Timeout=600"]
    run(["apt-get", *options, "update", "-q"], env=environment)
    run(["apt-get", *options, "install", "-y", "-q", "--no-install-recommends", *packages], env=environment)


def ensure_host_tools(arm: bool) -> None:
    """dpkg-deb, and for arm64 roots mmdebstrap and arch-test (its architecture check), installed when missing."""
    providers = {"dpkg-deb": "dpkg", **({"mmdebstrap": "mmdebstrap", "arch-test": "arch-test"} if arm else {})}
    missing = [package for tool, package in providers.items() if shutil.which(tool) is None]
    if missing:
        apt_install(missing)


def qemu_major(binary: str | Path) -> int:
    """The major version `binary --version` reports; 0 when it does not run."""
    try:
        first = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        return int(first.split("version")[1].split(".")[0])
    except (OSError, IndexError, ValueError):
        return 0


def ensure_qemu(cache: Path, machine: str, mirror: str) -> Path:
    """A qemu-<machine> >= 8: the host's, else the static one from bookworm-backports' qemu-user .deb (both
    emulators come out of the one .deb, so fetching it once serves x86_64 and aarch64 targets)."""
    name = QEMU_BINARIES[machine]
    host = shutil.which(name)
    if host and qemu_major(host) >= QEMU_MIN_MAJOR:
        return Path(host)
    cached = cache / "qemu" / name
    if cached.is_file() and qemu_major(cached) >= QEMU_MIN_MAJOR:
        return cached
    log(f"fetching {QEMU_DEB} from {QEMU_SUITE} (a private apt state; the host's sources stay as they are)")
    state = cache / "apt-backports"
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "sources.list").write_text(f"deb {mirror} {QEMU_SUITE} main\n")
    options = [f"-oDir::Etc::SourceList={state / 'sources.list'}", "-oDir::Etc::SourceParts=/nonexistent",
               f"-oDir::State::Lists={state / 'lists'}", f"-oDir::Cache={state / 'cache'}",
               "-oDir::State::status=/dev/null", "-oAPT::Architecture=amd64", "-oAPT::Sandbox::User=root"]
    run(["apt-get", *options, "update", "-q"])
    with tempfile.TemporaryDirectory(prefix="cpu-matrix-qemu-") as scratch:
        run(["apt-get", *options, "download", QEMU_DEB], cwd=scratch)
        deb = next(Path(scratch).glob(f"{QEMU_DEB}_*.deb"))
        members = " ".join(f"./usr/bin/{binary}" for binary in QEMU_BINARIES.values())
        run(["sh", "-c", f'dpkg-deb --fsys-tarfile "{deb}" | tar -x -C "{scratch}" {members}'])
        cached.parent.mkdir(parents=True, exist_ok=True)
        for binary in QEMU_BINARIES.values():
            shutil.move(f"{scratch}/usr/bin/{binary}", cached.parent / binary)
    if qemu_major(cached) < QEMU_MIN_MAJOR:
        raise CheckFailed(f"{cached} is not a working {name} >= {QEMU_MIN_MAJOR}")
    return cached


def build_wheel(out: Path) -> Path:
    """The project's wheel, built from a clean copy of the sources (no stale build/ can leak into it)."""
    with tempfile.TemporaryDirectory(prefix="cpu-matrix-src-") as scratch:
        source = Path(scratch)
        for name in ("pyproject.toml", "setup.py", "README.md"):
            shutil.copy2(REPO / name, source / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(REPO / "edge_digits", source / "edge_digits", ignore=ignore)
        shutil.copytree(REPO / "export", source / "export", ignore=ignore)
        out.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)])
    return next(out.glob("edge_digits-*.whl"))


def publish(partial: Path, final: Path) -> None:
    """Move a finished cache entry into place; a concurrent run that got there first wins."""
    try:
        partial.rename(final)
    except OSError:
        if not final.is_dir():
            raise CheckFailed(f"cannot move {partial} to {final}") from None


def assemble_root(release: Release, cache: Path, mirror: str) -> Path:
    """The arm64 Debian root of `release` (python3.X + the libraries opencv loads), cached once built."""
    packages = [f"python{release.python}", *ROOT_PACKAGES, release.glib_package]
    root = cache / "roots" / f"{release.suite}-{'-'.join(sorted(packages))}"
    if (root / "usr" / "bin" / f"python{release.python}").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{release.suite}-", dir=root.parent))
    try:
        run(["mmdebstrap", "--quiet", "--mode=root", "--arch=arm64", "--variant=extract",
             f"--include={','.join(packages)}", release.suite, str(partial), mirror])
        for link in ("bin", "lib", "sbin"):  # merged /usr: the extract variant runs no package scripts
            if not (partial / link).exists():
                (partial / link).symlink_to(f"usr/{link}")
        publish(partial, root)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root


def requirements(wheel: Path) -> list[str]:
    """The wheel's own Requires-Dist lines (its runtime dependencies, without extras)."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line]


def dependency_site(release: Release, wheel: Path, cache: Path) -> Path:
    """The wheel's aarch64 dependencies for this CPython at the host's versions, pip-installed --target once per
    version set (cached, with the bytecode the emulated runs compile into it)."""
    try:
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_DISTRIBUTIONS]
    except importlib.metadata.PackageNotFoundError as error:
        raise CheckFailed(f"{error.name} is not installed for {sys.executable}: run cpu-matrix with the project's venv "
                          "Python (it is the native reference), e.g. sudo .venv/bin/python scripts/cpu-matrix") from None
    wanted = [*requirements(wheel), *pins]
    key = hashlib.sha256("\n".join([release.abi, *wanted]).encode()).hexdigest()[:12]
    site = cache / "sites" / f"{release.suite}-{release.abi}-{key}"
    if site.is_dir():
        return site
    selection = ["--only-binary=:all:", "--python-version", release.python, "--implementation", "cp",
                 "--abi", release.abi, *[option for tag in release.platform_tags() for option in ("--platform", tag)]]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    site.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{release.suite}-", dir=site.parent) as scratch:
        wheels, partial = Path(scratch) / "wheels", Path(scratch) / "site"
        run([*pip, "download", "--quiet", "--dest", str(wheels), *selection, *wanted])
        run([*pip, "install", "--quiet", "--no-warn-conflicts", "--no-index", "--find-links", str(wheels),
             "--target", str(partial), *selection, *wanted])
        for older in site.parent.glob(f"{release.suite}-{release.abi}-*"):  # other versions' sites
            shutil.rmtree(older)
        publish(partial, site)
    return site
