"""Argument parsing, credentials, output and exit codes for integration scripts."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_CONFIG, EXIT_UPSTREAM, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5


class UsageError(Exception):
    """Bad arguments beyond what argparse checks (exit 2)."""


class MissingConfig(Exception):
    """A credential or setting is missing (exit 3); the message names the variable."""


class Output:
    """Collects the human text and the machine data; prints one of them at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.payload: Any = None

    def text(self, *lines: str) -> None:
        self.lines.extend(lines)

    def data(self, payload: Any) -> None:
        self.payload = payload

    def emit(self, as_json: bool) -> None:
        if as_json:
            text = json.dumps(self.payload if self.payload is not None else {"text": "\n".join(self.lines)},
                              indent=2, default=str, ensure_ascii=False)
        else:
            text = "\n".join(self.lines)
        try:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `script | head`: the reader left; not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit 2, with the usage line
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def bounded(kind: Callable[[str], Any], minimum: float | None, maximum: float | None) -> Callable[[str], Any]:
    """An argparse `type` that converts with `kind` and checks the value is within the bounds."""

    def convert(text: str) -> Any:
        value = kind(text)  # a ValueError reads "invalid int value: 'x'", as for a plain type=int
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            if maximum is None:
                rule = f"must be {minimum:g} or more"
            elif minimum is None:
                rule = f"must be {maximum:g} or less"
            else:
                rule = f"must be between {minimum:g} and {maximum:g}"
            raise argparse.ArgumentTypeError(f"{rule} (got {text})")
        return value

    convert.__name__ = getattr(kind, "__name__", "value")
    return convert


SPEC_FLAG = "--opsbot-spec"


def arg_spec(action: argparse.Action) -> dict[str, Any]:
    """One flag as `bot registry check` compares it with the registry entry."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        kind = "bool"
    else:
        kind = getattr(action.type, "__name__", None) or "str"
        kind = {"int": "int", "float": "float", "Decimal": "float"}.get(kind, "string")  # str, str.upper…: text
    flag = max(action.option_strings, key=len) if action.option_strings else action.dest   # positional: its name
    return {"flag": flag, "type": kind, "required": bool(action.required),
            "choices": None if action.choices is None else [str(c) for c in action.choices]}


class _PrintSpec(argparse.Action):
    """Hidden `--opsbot-spec`: print the flags as JSON and exit 0, like --help but for a machine."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        skip = {"help", "json", self.dest}
        flags = [arg_spec(a) for a in parser._actions if a.dest not in skip]
        sys.stdout.write(json.dumps({"prog": parser.prog, "args": flags}) + "\n")
        raise SystemExit(EXIT_OK)


class Script:
    """One integration script: its flags, the credentials it needs, and its main function."""

    def __init__(self, name: str, description: str, env: list[str] | tuple[str, ...] = ()):
        self.name = name
        self.required_env = list(env)
        self.parser = _Parser(prog=name, description=description)
        self.parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
        self.parser.add_argument(SPEC_FLAG, action=_PrintSpec)
        self._env_defaults: dict[str, str] = {}
        self._required_after_env: list[str] = []
        self._actions: dict[str, argparse.Action] = {}

    def arg(self, flag: str, *, env_default: str | None = None, required: bool = False,
            minimum: float | None = None, maximum: float | None = None, **kwargs: Any) -> None:
        """Add a flag. `env_default` fills it from an environment variable (e.g. GITHUB_REPO);
        `required` is then checked after that fallback. `minimum`/`maximum` bound a numeric flag
        (inclusive): outside them is a usage error (exit 2) naming the flag and the range."""
        dest = kwargs.get("dest") or flag.lstrip("-").replace("-", "_")
        if minimum is not None or maximum is not None:
            kwargs["type"] = bounded(kwargs.get("type") or int, minimum, maximum)
        if env_default:
            self._env_defaults[dest] = env_default
            kwargs["help"] = f"{kwargs.get('help') or ''} (default: ${env_default})".strip()
        if required and env_default:
            self._required_after_env.append(dest)
            required = False
        action = self.parser.add_argument(flag, required=required, **kwargs)
        self._actions[dest] = action

    @staticmethod
    def env(name: str) -> str:
        value = os.environ.get(name, "").strip()
        if not value:
            raise MissingConfig(f"missing credentials: set {name}")
        return value

    @staticmethod
    def env_optional(name: str, default: str | None = None) -> str | None:
        return os.environ.get(name, "").strip() or default

    def parse(self, argv: list[str] | None = None, *, check_required: bool = True) -> argparse.Namespace:
        args = self.parser.parse_args(argv)
        for dest, var in self._env_defaults.items():
            if getattr(args, dest, None) in (None, ""):
                setattr(args, dest, self._from_env(dest, var))
        if check_required:
            self.check_required(args)
        return args

    def check_required(self, args: argparse.Namespace) -> None:
        """Flags that are required unless their environment fallback is set."""
        for dest in self._required_after_env:
            if not getattr(args, dest, None):
                flag = "--" + dest.replace("_", "-")
                self.parser.error(f"{flag} is required (or set ${self._env_defaults[dest]})")

    def _from_env(self, dest: str, var: str) -> Any:
        """An env-var fallback goes through the flag's own `type` and `choices`, like a typed flag."""
        raw = os.environ.get(var, "").strip()
        if not raw:
            return None
        action = self._actions.get(dest)
        value: Any = raw
        if action is not None and callable(action.type):
            try:
                value = action.type(raw)
            except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
                self.parser.error(f"${var}={raw!r} is not valid for --{dest.replace('_', '-')}: {exc}")
        if action is not None and action.choices is not None and value not in action.choices:
            self.parser.error(f"${var}={raw!r} is not one of: {', '.join(map(str, action.choices))}")
        return value

    def main(self, fn: Callable[[argparse.Namespace, Output], None]) -> Callable[..., None]:
        """Decorator: when the module is run, parse args, check env, run, map errors to exit codes."""
        module = sys.modules.get(fn.__module__)
        if module is not None and module.__name__ == "__main__":
            raise SystemExit(self.run(fn))
        return fn

    def run(self, fn: Callable[[argparse.Namespace, Output], None], argv: list[str] | None = None) -> int:
        from _lib.http import ApiError, UpstreamTimeout

        # Order: malformed flags (2), then missing credentials (3), then flags that are required unless
        # an env fallback is set (2) — so a script run without its credentials always says so.
        args = self.parse(argv, check_required=False)
        out = Output()
        try:
            for name in self.required_env:
                self.env(name)
            self.check_required(args)
            fn(args, out)
        except UsageError as exc:
            self.parser.print_usage(sys.stderr)
            return _fail(EXIT_USAGE, f"{self.name}: {exc}")
        except MissingConfig as exc:
            return _fail(EXIT_CONFIG, f"{self.name}: {exc}")
        except UpstreamTimeout as exc:
            return _fail(EXIT_TIMEOUT, f"{self.name}: {exc}")
        except ApiError as exc:
            return _fail(EXIT_UPSTREAM, f"{self.name}: {exc}")
        except KeyboardInterrupt:
            return _fail(130, f"{self.name}: interrupted")
        except Exception as exc:  # an answer of a shape we did not expect, or a bug: no traceback in chat
            if os.environ.get("OPSBOT_DEBUG"):
                raise
            return _fail(EXIT_INTERNAL, f"{self.name}: internal error: {type(exc).__name__}: {exc} "
                                        "(set OPSBOT_DEBUG=1 for the traceback)")
        out.emit(args.json)
        return EXIT_OK


def _fail(code: int, message: str) -> int:
    sys.stderr.write(message + "\n")
    return code
