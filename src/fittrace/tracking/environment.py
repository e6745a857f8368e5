"""The software and machine a run ran on: tags people filter on, and the installed distributions.

Nothing here imports a framework: versions and accelerators are read from
frameworks the program already imported, and CUDA devices are named only once
torch has initialised CUDA itself (asking earlier would initialise it).
NVML (``nvidia-ml-py``) names GPUs and the driver when it is installed.
"""

from __future__ import annotations

import functools
import os
import sys

from fittrace import tags as tags_
from fittrace.distributions import normalized

# module name -> tag suffix, for the frameworks whose version is worth a filterable tag
FRAMEWORKS = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "torch": "torch",
    "lightning": "lightning",
    "pytorch_lightning": "pytorch_lightning",
}
REQUIREMENTS_FILE = "environment/requirements.txt"


def python_version() -> str:
    return "{}.{}.{}".format(*sys.version_info[:3])


def framework_tags() -> dict[str, str]:
    """``mlflow.framework.<name>`` (alias ``fittrace.framework.<name>``): the version of every known framework already imported."""
    tags = {}
    for module_name, suffix in FRAMEWORKS.items():
        version = getattr(sys.modules.get(module_name), "__version__", None)
        if isinstance(version, str):
            tags[tags_.FRAMEWORK + suffix] = version
    return tags


def _cpu_model() -> str:
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "Hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def machine_tags() -> dict[str, str]:
    """Python implementation, platform, CPU and memory (cached per process)."""
    import platform  # in the background thread: it is slow to import and to ask

    tags = {
        tags_.PREFIX + "python.implementation": platform.python_implementation(),
        tags_.PREFIX + "platform": platform.platform(),
        tags_.PREFIX + "cpu.model": _cpu_model(),
        tags_.PREFIX + "cpu.count": str(os.cpu_count() or 0),
    }
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        tags[tags_.PREFIX + "memory.total_gb"] = f"{total / 2**30:.1f}"
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        pass
    return tags


def nvidia_driver_possible() -> bool:
    """False where no NVIDIA driver can be loaded: a Linux without its device files, or macOS.

    Importing ``pynvml`` costs ~90 ms, more than the rest of a run's capture together.
    """
    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg"))
    return True


@functools.lru_cache(maxsize=1)
def _nvml_tags() -> dict[str, str]:
    if not nvidia_driver_possible():
        return {}
    try:
        import pynvml
    except ImportError:
        return {}
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU
        return {}
    try:
        count = pynvml.nvmlDeviceGetCount()
        names = [
            _text(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)))
            for i in range(count)
        ]
        tags = {tags_.PREFIX + "gpu.driver": _text(pynvml.nvmlSystemGetDriverVersion())}
        if names:
            tags[tags_.PREFIX + "gpu.names"] = ", ".join(names)
            tags[tags_.PREFIX + "gpu.count"] = str(count)
        return tags
    finally:
        pynvml.nvmlShutdown()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def accelerator_tags() -> dict[str, str]:
    """GPU names, count, driver and CUDA version as far as NVML, torch or TensorFlow already know."""
    tags: dict[str, str] = {}
    torch = sys.modules.get("torch")
    cuda = getattr(getattr(torch, "version", None), "cuda", None)
    if isinstance(cuda, str):
        tags[tags_.PREFIX + "cuda.version"] = cuda
    tf = sys.modules.get("tensorflow")
    if tags_.PREFIX + "cuda.version" not in tags and hasattr(tf, "sysconfig"):
        try:
            cuda = tf.sysconfig.get_build_info().get("cuda_version")
        except Exception:
            cuda = None
        if cuda:
            tags[tags_.PREFIX + "cuda.version"] = str(cuda)
    tags.update(_nvml_tags())
    try:
        if torch is not None and torch.cuda.is_initialized():
            count = torch.cuda.device_count()
            names = [torch.cuda.get_device_name(i) for i in range(count)]
            tags.update(
                {
                    tags_.PREFIX + "gpu.names": ", ".join(names),
                    tags_.PREFIX + "gpu.count": str(count),
                }
            )
    except Exception:  # a torch without CUDA support, or a broken driver
        pass
    return tags


def _distributions() -> dict[str, tuple[str, str]]:
    """Every distribution on ``sys.path``, normalized name -> (name, version); the first found wins.

    Read from the ``<name>-<version>.dist-info`` (or ``.egg-info``) folder names, one directory
    listing per path entry, rather than from each distribution's metadata file: a few
    milliseconds instead of a few hundred. Metadata is read only where a name lacks the version.
    """
    found: dict[str, tuple[str, str]] = {}
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:  # a zip file: importlib knows how to read it
            names = []
            for dist in _metadata().distributions(path=[folder]):
                if dist.metadata["Name"]:
                    found.setdefault(
                        normalized(dist.metadata["Name"]), (dist.metadata["Name"], dist.version)
                    )
        except OSError:
            continue
        for info in names:
            stem, _, kind = info.rpartition(".")
            if kind not in ("dist-info", "egg-info") or not stem:
                continue
            name, _, version = stem.partition("-")
            version = version.split("-", 1)[0]  # an egg's "-py3.11" suffix
            if not version:
                version = _metadata().PathDistribution.at(os.path.join(folder, info)).version
            if version:
                found.setdefault(normalized(name), (name.replace("_", "-"), version))
    return found


def _metadata():  # noqa: ANN202 - importlib.metadata costs ~30 ms to import: only when needed
    import importlib.metadata

    return importlib.metadata


_installed: dict[str, object] = {}


def _path_state() -> list[tuple[str, int]]:
    """The modification times of the ``sys.path`` folders an install writes into."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    unwatched = {os.getcwd(), os.path.dirname(os.path.abspath(main)) if main else ""}
    state = []
    for entry in sys.path:
        if os.path.abspath(entry or ".") in unwatched:
            continue
        try:
            state.append((entry, os.stat(entry).st_mtime_ns))
        except OSError:
            continue
    return state


def installed() -> dict[str, tuple[str, str]]:
    """The installed distributions (see ``_distributions``): found on first use, again only after an install.

    An install changes the modification time of its ``sys.path`` directory;
    otherwise the process's first answer is reused. The working directory and the script's own
    folder are not watched: runs write there (``fitruns/``), installs do not.
    """
    state = _path_state()
    cached = _installed.get("cached")
    if cached is None or cached[0] != state:  # type: ignore[index]
        cached = _installed["cached"] = (state, _distributions())
    return cached[1]  # type: ignore[index]


def installed_version(
    distribution: str, found: dict[str, tuple[str, str]] | None = None
) -> str | None:
    """The installed version of a distribution (any spelling of its name), or None; ``found``:
    an ``installed()`` answer to look in, so that many lookups check ``sys.path`` once."""
    entry = (installed() if found is None else found).get(normalized(distribution))
    return entry[1] if entry else None


def requirements() -> str:
    """``environment/requirements.txt``: ``name==version`` of every installed distribution, sorted."""
    return "".join(f"{name}=={version}\n" for _, (name, version) in sorted(installed().items()))
