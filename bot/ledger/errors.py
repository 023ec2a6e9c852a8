"""The ledger's one error type, apart from the backends so each can raise it without importing the chooser."""


class LedgerError(Exception):
    """The ledger's database cannot be used (unreachable, refused); the message is one line, no password."""
