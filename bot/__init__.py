"""opsbot: a chat-ops Slack bot that answers on the cheapest tier that can do the job well."""

__version__ = "0.1.0"
