"""The pricing table: every LLM call's usage → cost in USD.

Prices are USD per million tokens (MTok) per model: input, output, cache write (5-minute ephemeral
write, 1.25 × input) and cache read (a hit, 0.1 × input).

SOURCE: Anthropic's public pricing, https://www.anthropic.com/pricing (Claude API table) and
https://docs.anthropic.com/en/docs/about-claude/pricing, as published for Claude Opus 4.5, Sonnet 4.5
and Haiku 4.5 (retrieved 2025-11-24). Model ids that came out after that date (the 4-6 … 5-5
generations that anthropic 2.10.0's `anthropic.types.Model` lists) had no published price we could
cite offline: they are priced at their class's last published price. VERIFY against the pricing page
and put real numbers in BOT_PRICING_FILE, a YAML file of the same shape, which replaces entries per
model (and may add models):

    source: "https://www.anthropic.com/pricing, retrieved 2026-05-01"
    models:
      claude-opus-5-5: {input: 5.0, output: 25.0, cache_write: 6.25, cache_read: 0.5}

An unknown model never crashes accounting: it is priced like the closest class (opus / sonnet / haiku
in its id, else the most expensive entry, so spend is never under-reported) with one warning.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

SOURCE = ("https://www.anthropic.com/pricing (Claude API table), retrieved 2025-11-24; "
          "ids newer than that priced at their class's last published price")
AS_OF = "2025-11-24"


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, *, input_tokens: int = 0, output_tokens: int = 0, cache_write_tokens: int = 0,
             cache_read_tokens: int = 0) -> float:
        return (input_tokens * self.input + output_tokens * self.output
                + cache_write_tokens * self.cache_write + cache_read_tokens * self.cache_read) / 1_000_000


_OPUS = Price(5.00, 25.00, 6.25, 0.50)          # Opus 4.5 (2025-11-24)
_OPUS_4_1 = Price(15.00, 75.00, 18.75, 1.50)    # Opus 4 / 4.1
_SONNET = Price(3.00, 15.00, 3.75, 0.30)        # Sonnet 4 / 4.5
_HAIKU = Price(1.00, 5.00, 1.25, 0.10)          # Haiku 4.5

DEFAULT_PRICES: dict[str, Price] = {
    # Opus class — premium
    "claude-opus-5-5": _OPUS, "claude-opus-5": _OPUS, "claude-opus-4-8": _OPUS, "claude-opus-4-7": _OPUS,
    "claude-opus-4-6": _OPUS, "claude-opus-4-5": _OPUS, "claude-opus-4-1": _OPUS_4_1,
    "claude-opus-4-0": _OPUS_4_1,
    # Sonnet class — mid (orchestrator and workhorse)
    "claude-sonnet-5-5": _SONNET, "claude-sonnet-5": _SONNET, "claude-sonnet-4-6": _SONNET,
    "claude-sonnet-4-5": _SONNET, "claude-sonnet-4-0": _SONNET,
    # Haiku class — cheap
    "claude-haiku-5-5": _HAIKU, "claude-haiku-4-5": _HAIKU,
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
        except (OSError, yaml.YAMLError) as exc:
            raise PricingError(f"BOT_PRICING_FILE {path}: {exc}") from None
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise PricingError(f"BOT_PRICING_FILE {path}: expected `models:` mapping model id → prices")
        for model, raw in models.items():
            table.prices[str(model)] = _price(path, str(model), raw)
        table.source = str(data.get("source") or f"{path} (over the built-in table)")
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


def _price(path: Path, model: str, raw: Any) -> Price:
    if not isinstance(raw, dict):
        raise PricingError(f"BOT_PRICING_FILE {path}: {model}: expected input/output/cache_write/cache_read")
    try:
        values = {k: float(raw[k]) for k in ("input", "output")}
    except (KeyError, TypeError, ValueError):
        raise PricingError(f"BOT_PRICING_FILE {path}: {model}: `input` and `output` are required numbers") from None
    values["cache_write"] = float(raw.get("cache_write", values["input"] * 1.25))
    values["cache_read"] = float(raw.get("cache_read", values["input"] * 0.1))
    if any(v < 0 for v in values.values()):
        raise PricingError(f"BOT_PRICING_FILE {path}: {model}: prices cannot be negative")
    return Price(**values)
