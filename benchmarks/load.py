"""Load test: N concurrent chat sessions on one process's shared models while an admin
ingests and removes documents in the same knowledge base from another process.

    .venv/bin/python -m benchmarks.load [--sessions 1,4,16] [--requests 16] [--out benchmarks/results/load.json]

What a Streamlit server does: one process, the models loaded once (core.models caches
them), each browser session a thread calling `core.answer.iter_answer` with its own chat
history. Meanwhile a second process (`--admin`, as an admin using the CLI) keeps adding
new annexes to the same knowledge base and removing older ones, so the knowledge base
keeps the same size from phase to phase (and memory can be compared across N).

Checked for every passage an answer shows: its document was fully committed before
the answer's retrieval was over (the admin logs, per document, when its last chunk
batch was written, just before the commit, and when ingestion returned, just after;
the session logs when its first token came, just after retrieval), and it was not
removed before the question was asked. Reported per N: requests, errors, such
citations, p50/p95 latency, first-token p50, throughput and the process's peak RSS
(sampled from /proc every 50 ms). Exits 1 on any error or uncommitted citation. Uses its
own data folder (the converted SmolLM2 is shared through DOCENT_MODELS_DIR) and
generated PDFs; set DOCENT_CHROMA_URL to run it against a Chroma server.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KB_NAME = "load"
# A contract the sessions ask about (answers on known pages), and follow-ups.
CONTRACT_QUESTIONS = [
    "How much written notice is needed to terminate the agreement?",
    "What is the unit price of one box of gloves?",
    "Within how many days are invoices payable?",
    "When does this Agreement start?",
    "And how long does it last?",
    "What interest do late payments carry?",
    "Who is the Supplier?",
    "What are the Products?",
]


# --- documents ------------------------------------------------------------------------

def write_annex_pdf(path: Path, number: int, pages: int = 3) -> Path:
    """An annex with content of its own (so each one is a new document): clauses that
    name report numbers, which the sessions ask about while the annex is being ingested."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for page in range(1, pages + 1):
        y = 800
        c.drawString(72, y, f"Annex {number}, part {page}: delivery of reports")
        for clause in range(30):
            y -= 22
            report = number * 1000 + page * 100 + clause
            c.drawString(72, y, f"Clause {number}.{page}.{clause}: the contractor delivers report {report} "
                                f"within {clause + 3} days of the request.")
        c.showPage()
    c.save()
    return path


def annex_question(number: int) -> str:
    return f"Within how many days does the contractor deliver report {number * 1000 + 105}?"


# --- the admin process -----------------------------------------------------------------

WINDOW = 3  # annexes the admin keeps in the knowledge base at a time


def run_admin(data_dir: str, folder: str, stop_file: str, first: int) -> int:
    """Add annexes one after another, removing the oldest beyond WINDOW, until
    `stop_file` exists; then remove the rest. One JSON line per event with its times."""
    from core.config import Settings
    from knowledge.store import Store

    kb = Store(Settings(data_dir=Path(data_dir))).kb(KB_NAME)
    kept: list[str] = []

    def remove(doc_id: str) -> None:
        started = time.time()
        kb.remove(doc_id)
        print(json.dumps({"event": "removed", "doc_id": doc_id, "started": started, "returned": time.time()}),
              flush=True)

    number = first
    while not Path(stop_file).exists():
        path = write_annex_pdf(Path(folder) / f"annex-{number}.pdf", number)
        batches: list[float] = []
        started = time.time()
        result = kb.ingest_file(path, progress=lambda done, total, batches=batches: batches.append(time.time()))
        print(json.dumps({"event": "added", "number": number, "doc_id": result.doc_id, "status": result.status,
                          "message": result.message, "started": started,
                          "last_batch": batches[-1] if batches else started, "returned": time.time()}), flush=True)
        if result.status == "added":
            kept.append(result.doc_id)
        while len(kept) > WINDOW:
            remove(kept.pop(0))
        number += 1
    for doc_id in kept:  # back to the starting knowledge base for the next phase
        remove(doc_id)
    return 0


@dataclass
class Request:
    session: int
    question: str
    started: float  # wall clock (time.time), comparable with the admin process's log
    seconds: float = 0.0
    first_token: float | None = None  # seconds after `started`; retrieval is over by then
    refused: bool = False
    error: str = ""
    source_ids: list[str] = field(default_factory=list)
    uncommitted: list[str] = field(default_factory=list)  # shown, but not committed when retrieved
    unsure: list[str] = field(default_factory=list)  # committed within milliseconds of retrieval


class RssMonitor:
    """The process's resident memory, sampled every 50 ms; `peak()` since the last reset."""

    def __init__(self) -> None:
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def rss_kb() -> int:
        with open("/proc/self/status") as fh:
            return int(re.search(r"VmRSS:\s+(\d+)", fh.read()).group(1))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self.rss_kb())
            time.sleep(0.05)

    def reset(self) -> None:
        self._peak = self.rss_kb()

    def peak_mb(self) -> float:
        return round(max(self._peak, self.rss_kb()) / 1024, 1)

    def stop(self) -> None:
        self._stop.set()


def session(number: int, questions: list[str], store, settings, out: list[Request], lock: threading.Lock) -> None:
    """One chat session: its own history, the shared models and store, like a browser tab."""
    from core.answer import Answer, iter_answer

    kb = store.kb(KB_NAME)
    history: list[dict[str, str]] = []
    for question in questions:
        request = Request(number, question, time.time())
        began = time.perf_counter()
        try:
            final = None
            for item in iter_answer(question, history, "rag", kb, settings):
                if isinstance(item, Answer):
                    final = item
                elif request.first_token is None:
                    request.first_token = time.perf_counter() - began
            request.seconds = time.perf_counter() - began
            request.refused = final.refused
            request.source_ids = sorted({s.doc_id for s in final.sources if s.kind == "retrieved"})
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": final.text}]
        except Exception as exc:  # counted and reported, never hidden
            request.seconds = time.perf_counter() - began
            request.error = f"{type(exc).__name__}: {exc}"[:300]
        with lock:
            out.append(request)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return round(ordered[index], 3)


def questions_for(session_number: int, count: int, annex_numbers: list[int]) -> list[str]:
    """Contract questions (follow-ups included) mixed with questions about annexes the
    admin is ingesting right now: their passages must not show before they are committed."""
    out = []
    for i in range(count):
        if (session_number + i) % 2 == 1 and annex_numbers:
            out.append(annex_question(annex_numbers[(session_number + i) % len(annex_numbers)]))
        else:
            out.append(CONTRACT_QUESTIONS[(session_number * 3 + i) % len(CONTRACT_QUESTIONS)])
    return out


def run_phase(n_sessions: int, requests: int, store, settings, monitor: RssMonitor, work: Path,
              first_annex: int, baseline_ids: set[str]) -> tuple[dict[str, Any], int]:
    """N sessions answering `requests` questions in all while the admin process ingests."""
    stop_file = work / f"stop-{first_annex}"  # one per phase
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DOCENT_DATA_DIR": str(settings.data_dir)}
    admin = subprocess.Popen([sys.executable, "-m", "benchmarks.load", "--admin", str(settings.data_dir),
                              str(work), str(stop_file), str(first_annex)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=open(work / "admin.log", "a"),
                             text=True)
    ingested: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: ingested.extend(json.loads(line) for line in admin.stdout
                                                             if line.startswith("{")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not ingested and admin.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the sessions start once the admin has committed one document and goes on
    per_session = max(1, requests // n_sessions)
    annexes = list(range(first_annex, first_annex + 12))
    results: list[Request] = []
    lock = threading.Lock()
    monitor.reset()
    started = time.perf_counter()
    threads = [threading.Thread(target=session, args=(i, questions_for(i, per_session, annexes), store, settings,
                                                      results, lock)) for i in range(n_sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    peak = monitor.peak_mb()
    stop_file.touch()
    admin.wait(timeout=600)
    reader.join(timeout=60)
    if admin.returncode != 0:
        raise RuntimeError(f"the admin process failed ({admin.returncode}): "
                           + (work / "admin.log").read_text()[-2000:])

    def overlapped(r: Request) -> bool:  # an ingestion or removal was in flight while this request ran
        return any(e["started"] < r.started + r.seconds and e["returned"] > r.started for e in ingested)

    check_citations(results, ingested, baseline_ids)
    ok = [r for r in results if not r.error]
    latencies = [r.seconds for r in ok]
    first_tokens = [r.first_token for r in ok if r.first_token is not None]
    phase = {
        "sessions": n_sessions, "requests": len(results), "errors": sum(bool(r.error) for r in results),
        "uncommitted_citations": sum(len(r.uncommitted) for r in results),
        "unsure_citations": sum(len(r.unsure) for r in results),
        # passages shown from documents the admin added during the run: the check above had work to do
        "admin_passages_shown": sum(d not in baseline_ids for r in results for d in r.source_ids),
        "p50_s": percentile(latencies, 0.5), "p95_s": percentile(latencies, 0.95),
        "p50_first_token_s": percentile(first_tokens, 0.5), "wall_s": round(wall, 1),
        "throughput_rps": round(len(ok) / wall, 3) if wall else 0.0, "peak_rss_mb": peak,
        "refused": sum(r.refused for r in ok),
        "requests_during_admin_writes": sum(overlapped(r) for r in results),
        "admin_added": sum(e["event"] == "added" for e in ingested),
        "admin_removed": sum(e["event"] == "removed" for e in ingested),
        "admin_statuses": sorted({e["status"] for e in ingested if e["event"] == "added"}),
        "documents_after": len(store.kb(KB_NAME).documents()),
        "items": [asdict(r) for r in results],
    }
    last = max([e["number"] for e in ingested if e["event"] == "added"], default=first_annex - 1)
    return phase, last + 1


def check_citations(results: list[Request], events: list[dict[str, Any]], baseline_ids: set[str]) -> None:
    """Every passage shown must come from a document committed before retrieval ended
    (the first token) and not removed before the question was asked."""
    added = {e["doc_id"]: e for e in events if e["event"] == "added" and e["status"] == "added"}
    removed = {e["doc_id"]: e for e in events if e["event"] == "removed"}
    for r in results:
        if r.error or r.first_token is None:
            continue
        retrieved_by = r.started + r.first_token
        for doc_id in r.source_ids:
            if doc_id in baseline_ids:
                continue
            add = added.get(doc_id)
            if add is None or add["last_batch"] >= retrieved_by:
                r.uncommitted.append(doc_id)  # unknown, or still being written when retrieval ended
            elif doc_id in removed and removed[doc_id]["returned"] <= r.started:
                r.uncommitted.append(doc_id)  # gone before the question was asked
            elif add["returned"] > retrieved_by:
                r.unsure.append(doc_id)  # committed in the milliseconds between the two marks


def start_chroma_server(folder: Path) -> tuple[subprocess.Popen, str]:
    """`chroma run` on a free local port, once its heartbeat answers."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder.mkdir(parents=True, exist_ok=True)
    cli = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(cli if cli.exists() else "chroma"), "run", "--path", str(folder / "db"),
                             "--host", "127.0.0.1", "--port", str(port)], stdout=open(folder / "server.log", "ab"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("`chroma run` did not start: " + (folder / "server.log").read_text()[-2000:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,4,16,1",
                        help="concurrent sessions per phase; the last phase repeats N=1 to tell growth with N from "
                             "growth with time")
    parser.add_argument("--requests", type=int, default=16, help="questions per phase, spread over the sessions")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load.json"))
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument("--server", action="store_true",
                        help="start a Chroma server (`chroma run`) in the work folder and use it")
    parser.add_argument("--admin", nargs=4, metavar=("DATA_DIR", "FOLDER", "STOP_FILE", "FIRST"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.admin:
        data_dir, folder, stop_file, first = args.admin
        return run_admin(data_dir, folder, stop_file, int(first))

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("DOCENT_MODELS_DIR", str(ROOT / "data" / "models"))
    from core.answer import answer
    from core.config import get_settings
    from core.models import get_embedder, get_generator
    from knowledge.store import Store
    from tests.fixtures import write_contract_pdf

    (ROOT / "data").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="load-", dir=ROOT / "data"))
    settings = replace(get_settings(), data_dir=work / "data")
    os.environ["DOCENT_DATA_DIR"] = str(settings.data_dir)  # the admin process uses the same store
    server = None
    if args.server:
        server, url = start_chroma_server(work / "chroma-server")
        settings = replace(settings, chroma_url=url)
        os.environ["DOCENT_CHROMA_URL"] = url
    began = time.perf_counter()
    monitor = RssMonitor()
    try:
        store = Store(settings)
        kb = store.kb(KB_NAME, create=True)
        assert kb.ingest_file(write_contract_pdf(work / "supply_contract.pdf")).ok
        assert kb.ingest_file(write_annex_pdf(work / "annex-0.pdf", 0)).ok
        get_embedder(settings)
        get_generator(settings)
        answer(CONTRACT_QUESTIONS[0], kb=kb, settings=settings)  # warm-up, not counted
        baseline_ids = kb.committed_ids()
        baseline = round(RssMonitor.rss_kb() / 1024, 1)
        phases, next_annex = [], 1
        for n in [int(x) for x in args.sessions.split(",")]:
            print(f"phase: {n} session(s) ...", file=sys.stderr, flush=True)
            phase, next_annex = run_phase(n, args.requests, store, settings, monitor, work, next_annex,
                                          baseline_ids)
            phases.append(phase)
        documents = len(kb.documents())
    finally:
        monitor.stop()
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "store": "server " + settings.chroma_url if settings.chroma_url else "embedded",
        "settings": {k: v for k, v in settings.describe().items() if k not in ("data_dir",)},
        "baseline_rss_mb": baseline, "documents_at_end": documents,
        "total_seconds": round(time.perf_counter() - began, 1),
        "phases": phases,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(format_table(report))
    print(f"wrote {args.out}")
    bad = [p for p in phases if p["errors"] or p["uncommitted_citations"] or not p["requests"]
           or not p["admin_added"]]
    for p in bad:
        for item in p["items"]:
            if item["error"] or item["uncommitted"]:
                print(f"  N={p['sessions']}: {item['question']}: {item['error'] or item['uncommitted']}",
                      file=sys.stderr)
    return 1 if bad else 0


def format_table(report: dict[str, Any]) -> str:
    head = ("| sessions | requests | errors | uncommitted cited | p50 s | p95 s | p50 first token s | req/s "
            "| during admin writes | docs added / removed | peak RSS MB |")
    rows = [head, "|" + "---|" * 11]
    for p in report["phases"]:
        rows.append(f"| {p['sessions']} | {p['requests']} | {p['errors']} | {p['uncommitted_citations']} | "
                    f"{p['p50_s']:.2f} | {p['p95_s']:.2f} | {p['p50_first_token_s']:.2f} | {p['throughput_rps']:.2f} | "
                    f"{p['requests_during_admin_writes']} | {p['admin_added']} / {p['admin_removed']} | "
                    f"{p['peak_rss_mb']:.0f} |")
    rows.append(f"baseline RSS after loading the models: {report['baseline_rss_mb']:.0f} MB; "
                f"store: {report['store']}; {report['total_seconds']:.0f} s in all")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
