"""Is a request mostly code, a diff or a stack trace? Decided at 0 tokens, line by line.

Each non-empty line is classified by fixed patterns; a rule fires when the share of its lines reaches
its threshold (and the message has at least MIN_LINES non-empty lines, so a one-line question that
quotes a function name stays with the orchestrator). Rules, first match wins:

- `diff`         unified-diff lines (headers, hunks, +/-/context lines inside a hunk), needs a hunk header
- `stack_trace`  traceback/frame lines of Python, Java/Kotlin, JavaScript/Node, Go, Rust, Ruby, .NET;
                 needs at least two frame lines
- `code`         source lines: inside ``` fences, keywords that open a statement, lines ending in
                 ; { } or ):, closing brackets, symbol-dense lines

A request that matches goes straight to the premium sub-agent; the reason names the rule, the share and
the threshold, e.g. `code-detect: rule=stack_trace share=0.83 threshold=0.50 (10/12 lines)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_LINES = 5
THRESHOLDS = {"diff": 0.6, "stack_trace": 0.5, "code": 0.6}

_DIFF_HEADER = re.compile(r"^(diff --git |index [0-9a-f]+\.\.[0-9a-f]+|--- (a/|/dev/null)|\+\+\+ (b/|/dev/null)|"
                          r"new file mode|deleted file mode)")
_HUNK = re.compile(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@")

_FRAME = re.compile(
    r"^\s*(File \".+\", line \d+"                        # Python
    r"|at [\w$.<>/\\-]+\(.*\)$"                           # Java / Kotlin / .NET
    r"|at (async )?[^\s(]+ \(.+:\d+(:\d+)?\)$"            # Node: at fn (file:line:col)
    r"|at (async )?[^\s(]*[/\\][^\s]*:\d+:\d+$"           # Node: at /path/file.js:line:col
    r"|[\w./-]+\.(go|rs|rb|py|js|ts|java|kt|cs|php):\d+(:\d+)?(:in .+| \+0x[0-9a-f]+)?$"  # Go, Ruby, Rust
    r"|\d+: [\w:<>]+(::[\w<>]+)+"                        # Rust backtrace frame
    r"|#\d+ .+ (in|at) .+)"                              # PHP / gdb
)
_TRACE_OTHER = re.compile(
    r"^\s*(Traceback \(most recent call last\):"
    r"|During handling of the above exception"
    r"|The above exception was the direct cause"
    r"|Caused by: |Exception in thread "
    r"|\.\.\. \d+ more"
    r"|goroutine \d+ \[.+\]:|panic: |thread '.+' panicked at"
    r"|[\w.$]*(Error|Exception|Exit|Interrupt|Warning|Fault)(: .*|:)?$"
    r"|\^+\s*$|~*\^+~*\s*$"
    r"|[\w.]+\(.*\)$)"                                   # Go: a call line above its file:line
)
_KEYWORD = re.compile(
    r"^\s*(def |async def |class |import |from [\w.]+ import |function[\s(*]|const |let |var |return\b|"
    r"if\s*\(|for\s*\(|while\s*\(|switch\s*\(|else\b|elif |try:|except\b|finally:|catch\s*\(|"
    r"public |private |protected |static |func |package |#include|using |fn |impl |struct |enum |"
    r"interface |export |module |require\(|raise |throw |yield |await |with .+:$|@\w+|"
    r"SELECT |INSERT |UPDATE |DELETE |CREATE |ALTER |DROP )")
_BLOCK = re.compile(r"^\s*(for|if|while|with|elif|else|try|except|finally|match|case)\b.*:\s*$")   # Python
_ENDING = re.compile(r"([;{}]|\):|=>|\]\)|\)\)|,\s*//.*)\s*$")
_CLOSING = re.compile(r"^\s*[}\])]+[;,)]*\s*$")
_ASSIGN = re.compile(r"^\s*[\w.\[\]\"'>-]+\s*(:?=|\+=|-=|\*=|/=|==|!=|<=|>=)\s*\S")
_COMMENT = re.compile(r"^\s*(//|/\*|\*/|\* |--\s)")
_SYMBOLS = set("{}()[];=<>&|!*/+-_.:\"'")


@dataclass(frozen=True)
class CodeVerdict:
    is_code: bool
    rule: str | None = None        # diff | stack_trace | code
    share: float = 0.0
    threshold: float = 0.0
    lines: int = 0                 # non-empty lines
    matched: int = 0

    @property
    def reason(self) -> str:
        if self.rule is None:
            return f"code-detect: no rule (under {MIN_LINES} lines)" if self.lines < MIN_LINES else \
                "code-detect: no rule reached its threshold"
        return (f"code-detect: rule={self.rule} share={self.share:.2f} threshold={self.threshold:.2f} "
                f"({self.matched}/{self.lines} lines)")


def _diff_lines(lines: list[str]) -> tuple[int, bool]:
    count, in_hunk, hunks = 0, False, False
    for line in lines:
        if _DIFF_HEADER.match(line):
            count += 1
            in_hunk = False
        elif _HUNK.match(line):
            count += 1
            in_hunk = hunks = True
        elif in_hunk and line[:1] in "+- \\":
            count += 1
        else:
            in_hunk = False
    return count, hunks


def _trace_lines(lines: list[str]) -> tuple[int, int]:
    frames = count = 0
    after_frame = False
    for line in lines:
        if _FRAME.match(line):
            frames += 1
            count += 1
            after_frame = True
        elif _TRACE_OTHER.match(line):
            count += 1
            after_frame = False
        elif after_frame and line.startswith(("    ", "\t")):   # Python: the source line under a frame
            count += 1
            after_frame = False
        else:
            after_frame = False
    return count, frames


def _is_code_line(line: str) -> bool:
    if _KEYWORD.match(line) or _BLOCK.match(line) or _ENDING.search(line) or _CLOSING.match(line) or _COMMENT.match(line):
        return True
    if _ASSIGN.match(line) and not line.rstrip().endswith((".", "?", "!")):
        return True
    stripped = line.strip()
    symbols = sum(ch in _SYMBOLS for ch in stripped)
    return len(stripped) >= 8 and symbols / len(stripped) >= 0.25


def _code_lines(raw_lines: list[str]) -> int:
    count, fenced = 0, False
    for line in raw_lines:
        if line.strip().startswith("```"):
            fenced = not fenced
            count += 1
            continue
        if not line.strip():
            continue
        if fenced or _is_code_line(line):
            count += 1
    return count


def detect(text: str) -> CodeVerdict:
    """The verdict for one request text (pure, deterministic, no tokens)."""
    raw = (text or "").splitlines()
    lines = [line for line in raw if line.strip()]
    total = len(lines)
    if total < MIN_LINES:
        return CodeVerdict(False, lines=total)

    def verdict(rule: str, matched: int) -> CodeVerdict | None:
        share = matched / total
        if share >= THRESHOLDS[rule]:
            return CodeVerdict(True, rule, round(share, 4), THRESHOLDS[rule], total, matched)
        return None

    diff, hunks = _diff_lines(lines)
    trace, frames = _trace_lines(lines)
    found = ((hunks and verdict("diff", diff)) or (frames >= 2 and verdict("stack_trace", trace))
             or verdict("code", _code_lines(raw)))
    return found or CodeVerdict(False, lines=total)
