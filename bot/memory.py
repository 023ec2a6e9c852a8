"""Memory notes: "remember that …", "forget …", "what do you remember about …".

Each note is a markdown file `BOT_HOME/memory/<name>.md` with YAML front matter (`summary`,
`created_by`, `created_at`) and the remembered text as its body, so people can read and edit them.
The orchestrator's prompt lists notes by name and one-line summary only; the body is loaded lazily
with the `load_memory` tool, and it is quoted to the model as data, never as instructions.

The three commands are handled deterministically before the pre-router, at 0 tokens. They are
recorded in the ledger as tier "memory", decided_by "command", so `bot stats` shows them apart from
the LLM's "direct" tier (whose cost per request they would otherwise dilute).
Secrets are redacted before a note is written and again whenever one is read (notes are files
people may edit), so no prompt, reply or log sees a secret from a note.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.redact import Redactor

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LEAD = r"^\s*(?:<@[A-Z0-9]+>\s*)?(?:hey\s+)?(?:opsbot[,:]?\s+)?(?:please\s+|pls\s+)?"
REMEMBER_RE = re.compile(_LEAD + r"remember(?:\s+that|\s*:)\s+(?P<text>.+?)\s*$", re.IGNORECASE | re.DOTALL)
FORGET_RE = re.compile(_LEAD + r"forget(?:\s+about|\s+that|\s+the\s+note)?\s+(?P<query>.+?)[\s.!?]*$",
                       re.IGNORECASE | re.DOTALL)
RECALL_RE = re.compile(_LEAD + r"what\s+do\s+you\s+remember(?:\s+about\s+(?P<query>.+?))?[\s.!?]*$",
                       re.IGNORECASE | re.DOTALL)
_STOP = set("a an the is are was were be to of in on at for and or that this it we our us you your i my "
            "about with from by as do does".split())
SUMMARY_CHARS = 100


@dataclass
class Note:
    name: str
    summary: str
    body: str
    created_by: str | None = None
    created_at: str | None = None

    def index_line(self) -> str:
        return f"{self.name}: {self.summary}"


def _words(text: str) -> list[str]:
    return [w.removesuffix("s") if len(w) > 3 else w
            for w in re.findall(r"[a-z0-9][a-z0-9_.-]*", text.lower()) if w not in _STOP]


def split_note(text: str) -> tuple[str | None, str]:
    """(front matter, body) of a note file; (None, the whole text) when it has no closed front matter."""
    if text.startswith("---"):
        head, sep, rest = text[3:].partition("\n---")
        if sep:
            return head, rest.lstrip("-")
    return None, text


def summarise(text: str) -> str:
    """The note's one-line summary: its first sentence, capped."""
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0].strip().rstrip(".")
    if len(first) > SUMMARY_CHARS:
        first = first[: SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return first[:1].upper() + first[1:]


class MemoryStore:
    def __init__(self, directory: Path | str, redactor: Redactor | None = None):
        self.directory = Path(directory)
        self.redactor = redactor or Redactor()

    # -- reading -----------------------------------------------------------------------------

    def notes(self) -> list[Note]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*.md")):
            note = self._read(path)
            if note is not None:
                out.append(note)
        return out

    def get(self, name: str) -> Note | None:
        name = (name or "").strip().lower().removesuffix(".md")
        if not NAME_RE.match(name):
            return None
        return self._read(self.directory / f"{name}.md")

    def index_lines(self) -> list[str]:
        return [n.index_line() for n in self.notes()]

    def search(self, query: str, *, require_all: bool = False) -> list[Note]:
        wanted = set(_words(query))
        exact = self.get(query.strip().strip("`"))
        if exact is not None:
            return [exact]
        if not wanted:
            return []
        scored = []
        for note in self.notes():
            have = set(_words(f"{note.name.replace('-', ' ')} {note.summary} {note.body}"))
            score = len(wanted & have) / len(wanted)
            if score == 1.0 or (not require_all and score >= 0.5):
                scored.append((score, note))
        return [n for _, n in sorted(scored, key=lambda sn: (-sn[0], sn[1].name))]

    # -- writing -----------------------------------------------------------------------------

    def remember(self, text: str, user: str | None = None) -> tuple[Note, bool]:
        """Store a note; (note, False) when the same text is already remembered."""
        clean = self.redactor(text.strip())
        for note in self.notes():
            if note.body.strip() == clean:
                return note, False
        summary = summarise(clean)
        base = "-".join(_slug_words(summary))[:48].strip("-") or "note"
        name, i = base, 2
        while (self.directory / f"{name}.md").exists():
            name, i = f"{base}-{i}", i + 1
        note = Note(name, summary, clean, user, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        self._write(note)
        return note, True

    def delete(self, name: str) -> bool:
        note = self.get(name)
        if note is None:
            return False
        (self.directory / f"{note.name}.md").unlink(missing_ok=True)
        return True

    # -- files -------------------------------------------------------------------------------

    def _read(self, path: Path) -> Note | None:
        try:
            text = path.read_text()
        except OSError:
            return None
        front: dict = {}
        head, body = split_note(text)
        if head is not None:
            try:
                loaded = yaml.safe_load(head) or {}
                front = loaded if isinstance(loaded, dict) else {}
            except yaml.YAMLError:
                front = {}
        body = self.redactor(body.strip())   # notes can be edited by hand: redact on the way in, too
        summary = self.redactor(str(front.get("summary") or summarise(body) or path.stem))
        return Note(path.stem, summary, body, front.get("created_by"), str(front.get("created_at") or "") or None)

    def _write(self, note: Note) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        front = {"summary": note.summary, "created_by": note.created_by, "created_at": note.created_at}
        text = "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + note.body + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".note-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, self.directory / f"{note.name}.md")


def _slug_words(summary: str) -> list[str]:
    words = [w for w in re.findall(r"[a-z0-9]+", summary.lower()) if w not in _STOP]
    return words[:6]


# -- the commands (0 tokens) ----------------------------------------------------------------------


def parse_command(text: str) -> tuple[str, str] | None:
    """("remember" | "forget" | "recall", argument) or None when the text is not a memory command."""
    if m := REMEMBER_RE.match(text or ""):
        return "remember", m.group("text")
    if m := RECALL_RE.match(text or ""):
        return "recall", (m.group("query") or "").strip()
    if m := FORGET_RE.match(text or ""):
        return "forget", m.group("query").strip().strip("“”\"'`")
    return None


def memory_command(store: MemoryStore | None, text: str, user: str | None) -> tuple[str, str] | None:
    """(action, reply text) for a memory command, answered at 0 tokens; None for anything else.
    The pipeline records the decision and builds the reply: memory knows notes, not requests."""
    parsed = parse_command(text)
    if store is None or parsed is None:
        return None
    action, arg = parsed
    if action == "remember":
        note, created = store.remember(arg, user)
        if created:
            text = f"Noted as `{note.name}`: {note.summary}. Say “forget {note.name}” to drop it."
            if note.body != arg.strip():
                text += " (I left secrets out.)"
        else:
            text = f"I already remember that, as `{note.name}`."
    elif action == "forget":
        matches = store.search(arg, require_all=True)
        if len(matches) == 1:
            store.delete(matches[0].name)
            text = f"Forgot `{matches[0].name}`: {matches[0].summary}."
        elif matches:
            listing = "\n".join(f"• `{n.name}` — {n.summary}" for n in matches[:10])
            text = f"Several notes match; say “forget <name>” with one of:\n{listing}"
        else:
            text = f"I have no note matching “{arg}”."
    else:
        notes = store.search(arg) if arg else store.notes()
        if not notes:
            text = f"I don't remember anything about “{arg}”." if arg else "I don't remember anything yet."
        else:
            head = f"About “{arg}” I remember:" if arg else f"I remember {len(notes)} thing(s):"
            lines = [f"• `{n.name}` — {n.body if len(n.body) <= 300 else n.body[:300] + '…'}"
                     for n in notes[:20]]
            text = "\n".join([head, *lines])
    return action, text
