"""System metrics, opt-in: sampled by a background thread while a run is open, under MLflow's names.

Switched on by ``fittrace.enable_system_metrics_logging()`` (or
``FITTRACE_ENABLE_SYSTEM_METRICS_LOGGING=true``) for every run, by
``start_run(log_system_metrics=True)`` for one, or by the autolog option
``log_system_metrics`` (``FITTRACE_AUTOLOG_LOG_SYSTEM_METRICS=true``) for the
runs autologging starts. A sample is taken every
``FITTRACE_SYSTEM_METRICS_INTERVAL`` seconds (default 10), plus one when the run
ends; the thread stops with the run.

Metrics, as steps 0, 1, 2, ... (MLflow's names, plus fittrace's process RSS and disk I/O):
``system/cpu_utilization_percentage``, ``system/system_memory_usage_megabytes``,
``system/system_memory_usage_percentage``, ``system/process_memory_rss_megabytes``,
``system/disk_usage_percentage``, ``system/disk_usage_megabytes``,
``system/disk_available_megabytes``, ``system/disk_read_megabytes`` and
``system/disk_write_megabytes`` (since the run started), ``system/network_receive_megabytes``
and ``system/network_transmit_megabytes`` (since the run started), and per GPU ``i`` through
NVML (``pip install fittrace[system-metrics]``): ``system/gpu_{i}_utilization_percentage``,
``system/gpu_{i}_memory_usage_megabytes``, ``system/gpu_{i}_memory_usage_percentage``,
``system/gpu_{i}_power_usage_watts``, ``system/gpu_{i}_power_usage_percentage``.

On Linux everything is read from ``/proc`` (no dependency; a sample costs a few
small file reads); elsewhere from ``psutil`` when installed (the same extra).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from fittrace.entities import Metric

_logger = logging.getLogger("fittrace.system_metrics")

PREFIX = "system/"
DEFAULT_INTERVAL_S = 10.0
INTERVAL_ENV = "FITTRACE_SYSTEM_METRICS_INTERVAL"
ENABLE_ENV = "FITTRACE_ENABLE_SYSTEM_METRICS_LOGGING"
_MB = 1e6

_switch: dict[str, bool | None] = {"enabled": None}
_samplers: dict[str, Sampler] = {}
_lock = threading.Lock()


def enable_system_metrics_logging() -> None:
    """Sample system metrics for every run started from now on in this process."""
    _switch["enabled"] = True


def disable_system_metrics_logging() -> None:
    """Stop sampling system metrics for runs started from now on (undoes the enable call and variable)."""
    _switch["enabled"] = False


def wanted(requested: bool | None) -> bool:
    """Whether a run started with ``log_system_metrics=requested`` gets system metrics."""
    if requested is not None:
        return requested
    if _switch["enabled"] is not None:
        return _switch["enabled"]
    return os.environ.get(ENABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def interval() -> float:
    text = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_INTERVAL_S
    except ValueError:
        value = 0.0
    if not value > 0:
        _logger.warning(
            "%s=%r is not a positive number of seconds; using %s",
            INTERVAL_ENV,
            text,
            DEFAULT_INTERVAL_S,
        )
        return DEFAULT_INTERVAL_S
    return value


# -- readers: each returns {metric name without prefix: value} per sample ----------------------


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


def _disk_usage() -> dict[str, float]:
    st = os.statvfs(os.sep)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    available = st.f_bavail * st.f_frsize
    return {
        "disk_usage_percentage": 100.0 * used / max(used + available, 1),
        "disk_usage_megabytes": used / _MB,
        "disk_available_megabytes": available / _MB,
    }


class _HostReader:
    """CPU, memory, disk and network of the host; I/O counters relative to the first sample."""

    def __init__(self) -> None:
        self._start = self._counters()

    def _cpu_percent(self) -> float: ...
    def _memory(self) -> tuple[int, int]: ...  # used, total bytes
    def _rss(self) -> int: ...
    def _counters(self) -> tuple[int, int, int, int]: ...  # disk read/written, net in/out

    def sample(self) -> dict[str, float]:
        used, total = self._memory()
        deltas = [
            (now - start) / _MB for now, start in zip(self._counters(), self._start, strict=True)
        ]
        return {
            "cpu_utilization_percentage": self._cpu_percent(),
            "system_memory_usage_megabytes": used / _MB,
            "system_memory_usage_percentage": 100.0 * used / total,
            "process_memory_rss_megabytes": self._rss() / _MB,
            **_disk_usage(),
            "disk_read_megabytes": deltas[0],
            "disk_write_megabytes": deltas[1],
            "network_receive_megabytes": deltas[2],
            "network_transmit_megabytes": deltas[3],
        }


class ProcReader(_HostReader):
    """Linux: ``/proc`` and ``statvfs``."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        try:
            self._disks = {d for d in os.listdir("/sys/block") if not d.startswith(("loop", "ram"))}
        except OSError:
            self._disks = None
        self._cpu = self._cpu_times()
        super().__init__()

    @staticmethod
    def _cpu_times() -> tuple[int, int]:
        values = [int(v) for v in _read("/proc/stat").split("\n", 1)[0].split()[1:9]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    def _cpu_percent(self) -> float:
        total, idle = self._cpu_times()
        elapsed = total - self._cpu[0]
        busy = elapsed - (idle - self._cpu[1])
        self._cpu = (total, idle)
        return 100.0 * busy / max(elapsed, 1)

    def _memory(self) -> tuple[int, int]:
        memory = {}
        for line in _read("/proc/meminfo").splitlines():
            key, _, rest = line.partition(":")
            if key in ("MemTotal", "MemAvailable"):
                memory[key] = int(rest.split()[0]) * 1024
        return memory["MemTotal"] - memory.get("MemAvailable", 0), memory["MemTotal"]

    def _rss(self) -> int:
        return int(_read("/proc/self/statm").split()[1]) * self._page

    def _counters(self) -> tuple[int, int, int, int]:
        read = written = 0
        for line in _read("/proc/diskstats").splitlines():
            fields = line.split()
            if len(fields) >= 10 and (self._disks is None or fields[2] in self._disks):
                read += int(fields[5]) * 512
                written += int(fields[9]) * 512
        received = sent = 0
        for line in _read("/proc/net/dev").splitlines()[2:]:
            fields = line.split(":", 1)[1].split()
            received += int(fields[0])
            sent += int(fields[8])
        return read, written, received, sent


class PsutilReader(_HostReader):
    """Other platforms: the same metrics through psutil."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        psutil.cpu_percent()  # the first call only sets the baseline
        super().__init__()

    def _cpu_percent(self) -> float:
        return float(self._psutil.cpu_percent())

    def _memory(self) -> tuple[int, int]:
        memory = self._psutil.virtual_memory()
        return memory.total - memory.available, memory.total

    def _rss(self) -> int:
        return self._process.memory_info().rss

    def _counters(self) -> tuple[int, int, int, int]:
        disk = self._psutil.disk_io_counters()
        net = self._psutil.net_io_counters()
        return (
            disk.read_bytes if disk else 0,
            disk.write_bytes if disk else 0,
            net.bytes_recv,
            net.bytes_sent,
        )


class NvmlReader:
    """Per-GPU utilisation, memory and power through NVML (``nvidia-ml-py``)."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handles = [
            pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
        ]

    def sample(self) -> dict[str, float]:
        nvml, values = self._nvml, {}
        for i, handle in enumerate(self._handles):
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            values[f"gpu_{i}_utilization_percentage"] = float(
                nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            )
            values[f"gpu_{i}_memory_usage_megabytes"] = memory.used / _MB
            values[f"gpu_{i}_memory_usage_percentage"] = 100.0 * memory.used / memory.total
            try:
                power = nvml.nvmlDeviceGetPowerUsage(handle)
                limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
            except nvml.NVMLError:  # not every board reports power
                continue
            values[f"gpu_{i}_power_usage_watts"] = power / 1000
            values[f"gpu_{i}_power_usage_percentage"] = 100.0 * power / limit
        return values

    def close(self) -> None:
        self._nvml.nvmlShutdown()


def readers() -> list[Any]:
    """The readers that work here: /proc or psutil for the host, NVML when a GPU answers."""
    found: list[Any] = []
    if os.path.exists("/proc/stat"):
        found.append(ProcReader())
    else:
        try:
            found.append(PsutilReader())
        except ImportError:
            _logger.warning(
                "fittrace: system metrics need psutil on this platform: "
                "pip install 'fittrace[system-metrics]'"
            )
    try:
        found.append(NvmlReader())
    except Exception:  # nvidia-ml-py not installed, no driver, or no GPU
        pass
    return found


# -- the sampler ------------------------------------------------------------------------------


class Sampler:
    """A daemon thread logging one sample of every reader each ``interval_s`` seconds."""

    def __init__(self, client: Any, run_id: str, interval_s: float) -> None:
        self._client, self._run_id, self._interval = client, run_id, interval_s
        self._readers: list[Any] = []
        self._step = 0
        self._stop = threading.Event()
        self._last = time.monotonic()
        self.thread = threading.Thread(
            target=self._loop, name=f"fittrace-system-metrics-{run_id[:8]}", daemon=True
        )

    def _loop(self) -> None:
        self._readers = readers()  # NVML's start-up stays off the caller's thread
        while not self._stop.wait(self._interval):
            if not self._log():
                return

    def _log(self) -> bool:
        """Log one sample; False (after one warning) when sampling should stop."""
        try:
            values: dict[str, float] = {}
            for reader in self._readers:
                values.update(reader.sample())
            now = time.time_ns() // 1_000_000
            self._client.log_batch(
                self._run_id,
                metrics=[Metric(PREFIX + k, v, now, self._step) for k, v in values.items()],
            )
        except Exception:
            _logger.warning("fittrace stopped sampling system metrics", exc_info=True)
            return False
        self._step += 1
        self._last = time.monotonic()
        return True

    def stop(self) -> None:
        """Stop the thread; log a last sample when the run ended between two ticks."""
        self._stop.set()
        self.thread.join()
        if self._readers and time.monotonic() - self._last >= min(1.0, self._interval):
            self._log()
        for reader in self._readers:
            close = getattr(reader, "close", None)
            if close is not None:
                close()


def start(client: Any, run_id: str) -> None:
    """Start sampling for ``run_id`` (a no-op when it is already sampled)."""
    with _lock:
        if run_id in _samplers:
            return
        sampler = _samplers[run_id] = Sampler(client, run_id, interval())
    sampler.thread.start()


def stop(run_id: str) -> None:
    """Stop sampling for ``run_id``, if it is sampled."""
    with _lock:
        sampler = _samplers.pop(run_id, None)
    if sampler is not None:
        sampler.stop()
