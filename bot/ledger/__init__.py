"""The ledger package: `from bot.ledger import Ledger` (see core.py for the layout)."""

from bot.ledger.backend import LedgerError
from bot.ledger.core import Ledger
from bot.ledger.migrations import MIGRATIONS
from bot.ledger.times import OUTCOMES, iso, new_id, now_iso

__all__ = ["MIGRATIONS", "OUTCOMES", "Ledger", "LedgerError", "iso", "new_id", "now_iso"]
