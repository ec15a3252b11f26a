"""What every benchmark shares: the machine it ran on, memory and latency figures, the
Markdown table it prints and the JSON it writes under benchmarks/results/.

A number is only worth keeping with the context that produced it, so every JSON file
carries the machine, the date, the package versions, the git commit, the settings and
the 1-minute load average at start and end (this box's two cores are shared).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
PACKAGES = ("torch", "transformers", "chromadb", "sentence-transformers", "peft", "numpy", "scikit-learn")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_ram_gb() -> float:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)


def machine_info() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "ram_gb": total_ram_gb(),
            "os": platform.platform(), "python": platform.python_version()}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """HEAD, with '+dirty' when tracked files differ from it (the figures may not match HEAD)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --- memory --------------------------------------------------------------------------

def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float | None:
    """Current resident memory (psutil when installed, else /proc; None elsewhere)."""
    try:
        import psutil

        return round(psutil.Process().memory_info().rss / 2**20, 1)
    except ImportError:
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
        except (OSError, ValueError, IndexError):
            return None


class PeakSampler:
    """Peak RSS over one phase: ru_maxrss only ever grows over the whole process, so a
    later phase that uses less memory than an earlier one needs sampling to be seen."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, rss_mb() or 0.0)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb() or 0.0)


def dir_size_mb(path: Path) -> float:
    total = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
    return round(total / 2**20, 2)


@contextmanager
def temp_dir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A scratch folder under data/ (git-ignored; /tmp may be small), removed afterwards."""
    base = ROOT / "data"
    base.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- statistics and output -------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float | None:
    """q in 0..100, linear interpolation (numpy's default); None for no values."""
    return round(float(np.percentile(values, q)), 4) if len(values) else None


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """p50/p95/mean in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
            "mean_ms": round(float(np.mean(ms)), 3) if ms else None}


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{max(1, digits - 2)}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


class Run:
    """One benchmark run: start time and load, then `finish` adds the context and writes the JSON."""

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        self.name = name
        self.settings = settings
        self.started = time.perf_counter()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.load_start = load_average()

    def finish(self, results: dict[str, Any], tables: Sequence[str] = (), out: Path | None = None) -> Path:
        payload = {
            "benchmark": self.name,
            "date": self.started_at,
            "command": " ".join([".venv/bin/python -m benchmarks." + self.name, *sys.argv[1:]]),
            "seconds": round(time.perf_counter() - self.started, 1),
            "load_avg_1min": {"start": self.load_start, "end": load_average()},
            "machine": machine_info(),
            "packages": package_versions(),
            "git_commit": git_commit(),
            "settings": self.settings,
            "peak_rss_mb": peak_rss_mb(),
            **results,
            "tables": list(tables),
        }
        out = out or RESULTS_DIR / f"{self.name}.json"
        write_json(out, payload)
        for table in tables:
            print(table + "\n")
        print(f"{self.name}: {payload['seconds']} s, load {payload['load_avg_1min']['start']} -> "
              f"{payload['load_avg_1min']['end']}; wrote {out}")
        return out


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a run killed mid-write leaves the previous file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)
