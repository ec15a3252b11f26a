"""Is the data folder usable? Start-up checks for the app and `python -m core doctor`.

`check_startup(settings)` is what the app calls before anything else: cheap, never
raises, and returns a report whose `message()` tells a person what is wrong and what to
do, instead of a traceback from deep inside Chroma. `check(settings)` (the `doctor`
command) looks deeper: SQLite integrity, every knowledge base, half-written documents.
`repair(settings)` fixes what can be fixed safely. It never deletes: a damaged store, a
broken adapter folder or a file where the data folder should be is moved aside (into
DATA/broken/), where a person can still look at it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.config import Settings, get_settings
from knowledge.loaders import reader_recipe

SUBFOLDERS = ("chroma", "uploads", "adapters", "runs", "locks")


@dataclass
class Problem:
    """One thing wrong, what a person can do about it, and what `repair` would do."""

    where: str  # the folder, file or knowledge base concerned
    message: str
    fix: str
    repair: str = ""  # what `doctor --repair` does about it; empty when a person must act
    kind: str = ""  # which repair applies (internal)
    target: str = ""  # the path or knowledge base the repair acts on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HealthReport:
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was found in order, for the doctor's output

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self) -> str:
        """For people (the app shows this instead of a traceback): every problem, the fix."""
        if self.ok:
            return "Docent's data folder and knowledge-base store are in order."
        lines = [f"Docent found {len(self.problems)} problem(s) with its data folder or store:"]
        for n, p in enumerate(self.problems, start=1):
            lines.append(f"{n}. {p.where}: {p.message}.\n   What to do: {p.fix}."
                         + (f"\n   `python -m core doctor --repair` would {p.repair}." if p.repair else ""))
        if any(p.repair for p in self.problems):
            lines.append("The repair moves damaged things aside into the data folder's broken/ folder; it deletes "
                         "nothing.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [p.to_dict() for p in self.problems], "checked": self.checked}


def check_startup(settings: Settings | None = None) -> HealthReport:
    """The app's start-up check: data folder, store, adapter registry. Never raises.

    The app calls it once before it opens the store and, when `not report.ok`, shows
    `report.message()` (e.g. `st.error(...)` then `st.stop()`) instead of a traceback."""
    return check(settings, deep=False)


def check(settings: Settings | None = None, deep: bool = True) -> HealthReport:
    """All checks; `deep` adds SQLite's integrity check, a search in every knowledge base
    and half-written documents (what `python -m core doctor` runs)."""
    settings = settings or get_settings()
    report = HealthReport()
    try:
        if _check_data_dir(settings, report):
            _check_store(settings, report, deep)
            _check_adapters(settings, report)
    except Exception as exc:  # a check must never be what crashes the app
        report.problems.append(Problem(str(settings.data_dir), f"the check itself failed ({type(exc).__name__}: "
                                       f"{exc})", "run `python -m core doctor` and report its output"))
    return report


# --- data folder -----------------------------------------------------------------------

def _check_data_dir(settings: Settings, report: HealthReport) -> bool:
    """The data folder and its subfolders exist (or can be made) and are writable;
    False when nothing else can be checked."""
    data = settings.data_dir
    if data.exists() and not data.is_dir():
        report.problems.append(Problem(
            str(data), "the data folder is a file, not a folder",
            "set DOCENT_DATA_DIR to a folder, or move this file away",
            repair=f"move the file to {data}.broken-TIMESTAMP and create the folder", kind="file_in_the_way",
            target=str(data)))
        return False
    try:
        if not data.exists():
            data.mkdir(parents=True)
            report.checked.append(f"data folder {data}: did not exist, created (empty)")
    except OSError as exc:
        report.problems.append(Problem(str(data), f"the data folder cannot be created ({exc.strerror or exc})",
                                       "create it, writable by the user that runs Docent, or set DOCENT_DATA_DIR"))
        return False
    usable = True
    for folder in [data] + [data / name for name in SUBFOLDERS]:
        if folder.exists() and not folder.is_dir():
            report.problems.append(Problem(
                str(folder), "a file is where this folder should be", "move the file away",
                repair="move the file into broken/", kind="move_aside", target=str(folder)))
            usable = False
        elif folder.is_dir() and not _writable(folder):
            report.problems.append(Problem(
                str(folder), f"not writable by this user (uid {os.geteuid()})",
                f"give the user that runs Docent write access (e.g. `chown -R {os.geteuid()} {data}`), "
                "or set DOCENT_DATA_DIR to a writable folder"))
            usable = False
    if usable:
        report.checked.append(f"data folder {data}: writable")
    return usable


def _writable(folder: Path) -> bool:
    """Really write: permission bits say nothing about read-only mounts or full disks."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".docent-check-")
        os.close(fd)
        os.unlink(name)
        return True
    except OSError:
        return False


# --- knowledge-base store --------------------------------------------------------------

def _check_store(settings: Settings, report: HealthReport, deep: bool) -> None:
    from knowledge.store import EmbedderMismatchError, Store, StoreUnavailableError

    move_store = dict(repair="move the store into broken/; Docent starts with an empty one (ingest the "
                             "documents again)", kind="move_aside", target=str(settings.chroma_dir))
    if not settings.chroma_url:
        sqlite = settings.chroma_dir / "chroma.sqlite3"
        damage = _sqlite_damage(sqlite, deep) if sqlite.exists() else ""
        if damage:
            report.problems.append(Problem(str(sqlite), f"the knowledge-base store is damaged: {damage}",
                                           "run `python -m core doctor --repair`, then ingest the documents again; "
                                           "or restore the data folder from a backup", **move_store))
            return
    where = settings.chroma_url or str(settings.chroma_dir)
    try:
        store = Store(settings)
        names = store.list_kbs()
    except StoreUnavailableError as exc:
        server = bool(settings.chroma_url)
        report.problems.append(Problem(where, str(exc), "start the Chroma server or fix DOCENT_CHROMA_URL" if server
                                       else "run `python -m core doctor --repair`", **({} if server else move_store)))
        return
    except Exception as exc:
        report.problems.append(Problem(where, f"the store opens but cannot list its knowledge bases "
                                       f"({type(exc).__name__}: {exc})",
                                       "restore the data folder from a backup, or move the store aside",
                                       **({} if settings.chroma_url else move_store)))
        return
    report.checked.append(f"store {where}: {len(names)} knowledge base(s)")
    for name in names:
        try:
            kb = store.kb(name)
        except EmbedderMismatchError as exc:
            report.problems.append(Problem(f"knowledge base '{name}'", str(exc),
                                           "set DOCENT_EMBEDDING_MODEL as the message says"))
            continue
        except Exception as exc:
            report.problems.append(Problem(f"knowledge base '{name}'", f"cannot be opened ({type(exc).__name__}: "
                                           f"{exc})", f"delete it (`Store.delete_kb('{name}')`) and ingest again"))
            continue
        if deep:
            _check_kb(kb, report)


def _sqlite_damage(path: Path, deep: bool) -> str:
    """What is wrong with Chroma's SQLite file ('' when nothing): its header, then with
    `deep` SQLite's own quick check (read-only, so it is safe while the app runs)."""
    from knowledge.store import sqlite_damage

    damage = sqlite_damage(path)
    if damage or not deep or path.stat().st_size == 0:
        return damage
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        return f"SQLite cannot read it ({exc})"
    problems = [r[0] for r in rows if r[0] != "ok"]
    return f"SQLite's integrity check failed ({'; '.join(problems[:3])})" if problems else ""


def _check_kb(kb, report: HealthReport) -> None:
    """Half-written documents, and whether the vector index answers a query."""
    try:
        stale = [d for d in kb.documents(include_pending=True) if d.status != "committed"]
        if stale:
            report.problems.append(Problem(
                f"knowledge base '{kb.name}'",
                f"{len(stale)} document(s) were left half-written by an interrupted ingestion "
                f"({', '.join(d.source or d.doc_id for d in stale[:5])}); answers never see them",
                f"nothing urgent: the next ingestion into '{kb.name}' removes them",
                repair="remove them now", kind="recover", target=kb.name))
        sample = kb.chunks.get(limit=1, include=["embeddings"])
        if sample["ids"]:
            kb.chunks.query(query_embeddings=[list(sample["embeddings"][0])], n_results=1, include=[])
        docs = kb.documents()
        line = f"knowledge base '{kb.name}': {len(docs)} document(s), {kb.count_chunks()} chunk(s)"
        recipe = reader_recipe(kb.settings)
        older = [d for d in docs if d.reader != recipe]
        if older:  # not a problem: they answer as before, only the text of a new reading may read better
            line += (f"; {len(older)} read by an older reader or other chunk settings "
                     f"({', '.join(d.source for d in older[:3])}{', ...' if len(older) > 3 else ''}): "
                     "ingest those files again to read them anew")
        report.checked.append(line)
    except Exception as exc:
        report.problems.append(Problem(f"knowledge base '{kb.name}'", f"cannot be searched ({type(exc).__name__}: "
                                       f"{exc})", "remove it and ingest its documents again, or restore a backup"))


# --- adapters --------------------------------------------------------------------------

def _check_adapters(settings: Settings, report: HealthReport) -> None:
    from adapters.registry import AdapterInfo, peft_base_model

    folder = settings.adapters_dir
    if not folder.is_dir():
        return
    good = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        meta, peft_config = sub / "docent.json", sub / "adapter_config.json"
        move = dict(repair="move the folder into broken/", kind="move_aside", target=str(sub))
        if not meta.exists():
            made_for = peft_base_model(sub)
            what = (f"a peft adapter made outside Docent (for '{made_for or 'an unknown model'}')"
                    if peft_config.exists() else "not an adapter")
            report.problems.append(Problem(str(sub), f"{what}: it has no docent.json",
                                           "move it out of the adapters folder", **move))
            continue
        try:
            AdapterInfo(**json.loads(meta.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            report.problems.append(Problem(str(meta), f"the adapter's metadata cannot be read ({type(exc).__name__}: "
                                           f"{exc})", "train the adapter again, or restore the file", **move))
            continue
        if not peft_config.exists():
            report.problems.append(Problem(str(sub), "adapter_config.json is missing: the weights cannot be loaded",
                                           "train the adapter again", **move))
            continue
        good.append(sub.name)
    active = folder / "active.json"
    if active.exists():
        try:
            name = json.loads(active.read_text())["name"]
            if name not in good:
                raise ValueError(f"it names '{name}', which is not a usable adapter")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            report.problems.append(Problem(str(active), f"the active-adapter choice cannot be used ({exc})",
                                           "activate an adapter again (Fine-tuning page or `python -m core "
                                           "adapters --activate NAME`)",
                                           repair="remove it (the newest adapter of each style is used)",
                                           kind="remove", target=str(active)))
    report.checked.append(f"adapters {folder}: {len(good)} usable")


# --- repair ----------------------------------------------------------------------------

def repair(settings: Settings | None = None, report: HealthReport | None = None) -> list[str]:
    """Fix what can be fixed safely; returns what was done, one line each. Damaged
    things are moved aside (into DATA/broken/), never deleted."""
    settings = settings or get_settings()
    report = report or check(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    done = []
    for problem in report.problems:
        if not problem.kind:
            continue
        target = Path(problem.target)
        if problem.kind == "file_in_the_way":
            aside = target.with_name(f"{target.name}.broken-{stamp}")
            target.rename(aside)
            target.mkdir(parents=True)
            done.append(f"moved the file {target} to {aside} and created the data folder")
        elif problem.kind == "move_aside":
            from knowledge.store import forget_client

            broken = settings.data_dir / "broken"
            broken.mkdir(parents=True, exist_ok=True)
            rel = target.relative_to(settings.data_dir) if target.is_relative_to(settings.data_dir) else target.name
            aside = broken / f"{stamp}-{str(rel).replace(os.sep, '-')}"
            if target == settings.chroma_dir:
                forget_client(str(target))  # a client of this process must not keep the moved files open
            shutil.move(str(target), str(aside))
            done.append(f"moved {target} to {aside}")
        elif problem.kind == "remove":
            target.unlink(missing_ok=True)
            done.append(f"removed {target}")
        elif problem.kind == "recover":
            from knowledge.store import Store

            kb = Store(settings).kb(problem.target)
            with kb.write_lock():
                removed = kb.recover()
            done.append(f"removed {len(removed)} half-written document(s) from knowledge base '{problem.target}'")
    return done
