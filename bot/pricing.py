"""The pricing table: every LLM call's usage → cost in USD.

Prices are USD per million tokens (MTok) per model: input, output, cache write (the 5-minute
ephemeral write the bot uses) and cache read (a hit). Each row says where its figures come from; all
were read on READ_ON from Anthropic's own pages:

- PRICING_PAGE, the "Model pricing" table (Opus 4 … 5, Sonnet 4 … 4.6, Haiku 4.5, Fable/Mythos 5 and 5.1);
- the model overview pages (MODEL_PAGE/<model>/overview) for the models released after that table's
  copy: Opus 5.5, Sonnet 5 and 5.5, Haiku 5.5 (and Fable 5.2 from a model comparison table there);
- MODEL_PAGE/sonnet-5-5/migration-guide (re-read 2026-12-05): Sonnet 5.5 cache reads cost $0.10/MTok,
  half the Sonnet 5 rate (cut on 2026-10-07; the overview's $0.20 is the older figure);
- MODEL_PAGE/haiku-5-5/overview (re-read 2026-12-05): Haiku 5.5 is priced in two prompt-size bands —
  a prompt (input + cache reads + cache writes) up to 100,000 tokens pays $0.10 in / $0.50 out /
  $0.125 5-minute write / $0.01 read; over 100,000 tokens every token of that request, output
  included, pays $0.50 / $2.50 / $0.625 / $0.05. `Price.long` models the upper band.

Where a page gave no cache price, the standard multipliers are used (write 1.25 × input, read
0.1 × input) and the row says so. 1-hour cache writes and the Batch API are not used by the bot and
not modelled.

Prices change: BOT_PRICING_FILE, a YAML file of the same shape, replaces entries per model (and may
add models):

    source: "https://platform.claude.com/docs/en/about-claude/pricing, read 2027-01-10"
    models:
      claude-opus-5-5: {input: 4.0, output: 20.0, cache_write: 5.0, cache_read: 0.2}

An unknown model never crashes accounting: with one warning, it is priced like the newest entry of
its class (opus / sonnet / haiku in its id), else like the most expensive entry.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

READ_ON = "2026-11-25"
REREAD_ON = "2026-12-05"   # Sonnet 5.5 cache reads and Haiku 5.5's bands, re-read for issue 10
PRICING_PAGE = "https://platform.claude.com/docs/en/about-claude/pricing"
MODEL_PAGE = "https://platform.claude.com/docs/en/models"
SOURCE = f"{PRICING_PAGE} and {MODEL_PAGE}/<model>/overview, read {READ_ON}"


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write: float
    cache_read: float
    source: str = field(default="", compare=False)   # where the figures come from
    long_above: int | None = None                      # prompt size (tokens) above which `long` applies
    long: Price | None = None

    def cost(self, *, input_tokens: int = 0, output_tokens: int = 0, cache_write_tokens: int = 0,
             cache_read_tokens: int = 0) -> float:
        if self.long is not None and self.long_above is not None \
                and input_tokens + cache_write_tokens + cache_read_tokens > self.long_above:
            return self.long.cost(input_tokens=input_tokens, output_tokens=output_tokens,
                                  cache_write_tokens=cache_write_tokens, cache_read_tokens=cache_read_tokens)
        return (input_tokens * self.input + output_tokens * self.output
                + cache_write_tokens * self.cache_write + cache_read_tokens * self.cache_read) / 1_000_000


CACHE_WRITE_X = 1.25   # the standard 5-minute cache write, × input
CACHE_READ_X = 0.1     # the standard cache hit, × input


def _standard_cache(input: float, output: float, source: str) -> Price:
    return Price(input, output, input * CACHE_WRITE_X, input * CACHE_READ_X,
                 f"{source}; cache rates: standard multipliers")


_TABLE = f"{PRICING_PAGE} (read {READ_ON})"

_OPUS_5_5 = Price(4.00, 20.00, 5.00, 0.20, f"{MODEL_PAGE}/opus-5-5/overview (read {READ_ON})")
_OPUS_4_5_TO_5 = Price(5.00, 25.00, 6.25, 0.50, _TABLE)
_OPUS_4_0_4_1 = Price(15.00, 75.00, 18.75, 1.50, _TABLE)
_SONNET_5_5 = Price(2.00, 10.00, 2.50, 0.10, f"{MODEL_PAGE}/sonnet-5-5/overview; cache read "
                    f"{MODEL_PAGE}/sonnet-5-5/migration-guide (cut 2026-10-07; read {REREAD_ON})")
_SONNET_5_X = Price(2.00, 10.00, 2.50, 0.20, f"{MODEL_PAGE}/sonnet-5/overview (read {READ_ON})")
_SONNET_4_X = Price(3.00, 15.00, 3.75, 0.30, _TABLE)
_HAIKU_5_5_SRC = f"{MODEL_PAGE}/haiku-5-5/overview (read {REREAD_ON})"
_HAIKU_5_5 = Price(0.10, 0.50, 0.125, 0.01, f"{_HAIKU_5_5_SRC}: prompts up to 100,000 tokens", long_above=100_000,
                   long=Price(0.50, 2.50, 0.625, 0.05, f"{_HAIKU_5_5_SRC}: prompts over 100,000 tokens"))
_HAIKU_4_5 = Price(1.00, 5.00, 1.25, 0.10, _TABLE)
_FABLE_5_2 = _standard_cache(8.00, 40.00, f"{MODEL_PAGE}/sonnet-5/overview, model comparison (read {READ_ON})")
_FABLE_5_1 = Price(10.00, 50.00, 12.50, 0.25, _TABLE)      # Fable 5.1 and Mythos 5.1
_FABLE_5 = Price(10.00, 50.00, 12.50, 1.00, _TABLE)        # Fable 5 and Mythos 5

DEFAULT_PRICES: dict[str, Price] = {
    # Opus class — premium
    "claude-opus-5-5": _OPUS_5_5, "claude-opus-5": _OPUS_4_5_TO_5, "claude-opus-4-8": _OPUS_4_5_TO_5,
    "claude-opus-4-7": _OPUS_4_5_TO_5, "claude-opus-4-6": _OPUS_4_5_TO_5, "claude-opus-4-5": _OPUS_4_5_TO_5,
    "claude-opus-4-1": _OPUS_4_0_4_1, "claude-opus-4-0": _OPUS_4_0_4_1,
    # Sonnet class — mid (orchestrator and workhorse)
    "claude-sonnet-5-5": _SONNET_5_5, "claude-sonnet-5": _SONNET_5_X, "claude-sonnet-4-6": _SONNET_4_X,
    "claude-sonnet-4-5": _SONNET_4_X, "claude-sonnet-4-0": _SONNET_4_X,
    # Haiku class — cheap
    "claude-haiku-5-5": _HAIKU_5_5, "claude-haiku-4-5": _HAIKU_4_5,
    # Fable and Mythos
    "claude-fable-5-2": _FABLE_5_2, "claude-fable-5-1": _FABLE_5_1, "claude-mythos-5-1": _FABLE_5_1,
    "claude-fable-5": _FABLE_5, "claude-mythos-5": _FABLE_5,
}

# The class an unknown id is priced as, by the word in its id.
_CLASS_DEFAULT = {"opus": "claude-opus-5-5", "sonnet": "claude-sonnet-5-5", "haiku": "claude-haiku-5-5"}
_DATED = re.compile(r"-\d{8}$")


class PricingError(ValueError):
    pass


class PriceTable:
    def __init__(self, prices: dict[str, Price] | None = None, source: str = SOURCE):
        self.prices = dict(DEFAULT_PRICES if prices is None else prices)
        self.source = source
        self._warned: set[str] = set()

    @classmethod
    def load(cls, path: Path | str | None = None) -> PriceTable:
        """The built-in table, with BOT_PRICING_FILE's entries laid over it."""
        table = cls()
        if path is None:
            return table
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise PricingError(f"BOT_PRICING_FILE {path}: {exc}") from None
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise PricingError(f"BOT_PRICING_FILE {path}: expected `models:` mapping model id → prices")
        source = str(data.get("source") or path)
        for model, raw in models.items():
            table.prices[str(model)] = _price(path, str(model), raw, source)
        table.source = f"{source} (over the built-in table: {SOURCE})"
        return table

    def price(self, model: str) -> Price:
        if model in self.prices:
            return self.prices[model]
        undated = _DATED.sub("", model)
        if undated in self.prices:
            return self.prices[undated]
        family = next((f for f in _CLASS_DEFAULT if f in model.lower()), None)
        if family and _CLASS_DEFAULT[family] in self.prices:
            stand_in = _CLASS_DEFAULT[family]
        else:
            stand_in = max(self.prices, key=lambda m: self.prices[m].input + self.prices[m].output)
        if model not in self._warned:
            self._warned.add(model)
            log.warning("no price for model %r: costing it as %s; add it to BOT_PRICING_FILE", model, stand_in)
        return self.prices[stand_in]

    def cost(self, model: str, *, input_tokens: int = 0, output_tokens: int = 0, cache_write_tokens: int = 0,
             cache_read_tokens: int = 0) -> float:
        return self.price(model).cost(input_tokens=input_tokens, output_tokens=output_tokens,
                                      cache_write_tokens=cache_write_tokens, cache_read_tokens=cache_read_tokens)


def _price(path: Path, model: str, raw: Any, source: str) -> Price:
    if not isinstance(raw, dict):
        raise PricingError(f"BOT_PRICING_FILE {path}: {model}: expected input/output/cache_write/cache_read")
    try:
        values = {k: float(raw[k]) for k in ("input", "output")}
    except (KeyError, TypeError, ValueError):
        raise PricingError(f"BOT_PRICING_FILE {path}: {model}: `input` and `output` are required numbers") from None
    values["cache_write"] = float(raw.get("cache_write", values["input"] * CACHE_WRITE_X))
    values["cache_read"] = float(raw.get("cache_read", values["input"] * CACHE_READ_X))
    if any(v < 0 for v in values.values()):
        raise PricingError(f"BOT_PRICING_FILE {path}: {model}: prices cannot be negative")
    return Price(**values, source=source)
