"""The pre-router's words: stopwords, synonyms, a light stemmer and the tokenizer every matcher shares."""

from __future__ import annotations

import re

STOPWORDS = set("""a an the is are was were be been am do does did of for to in on at by with from and or
me my our we us you your i it its this that these those what whats which who whom please pls can could
would will show list give get tell let see check any some all there here just now currently right
about up into over how much many of 's""".split())

SYNONYMS = {
    "prs": "pr", "pull": "pr", "requests": "request", "pullrequest": "pr", "mrs": "pr",
    "revenue": "mrr", "recurring": "mrr", "arr": "mrr",
    "deploys": "deploy", "deployments": "deploy", "deployment": "deploy", "deployed": "deploy",
    "incidents": "incident", "alerts": "incident", "pages": "incident", "paged": "incident",
    "oncall": "oncall", "on-call": "oncall", "call": "call",
    "issues": "issue", "tickets": "ticket", "bugs": "issue",
    "commits": "commit", "committed": "commit", "pushed": "commit",
    "releases": "release", "released": "release", "tags": "release",
    "channels": "channel", "messages": "message", "msgs": "message", "texts": "sms", "text": "sms",
    "meetings": "meeting", "calls": "call", "recordings": "recording", "recorded": "recording",
    "transcripts": "transcript", "participants": "participant", "attendees": "participant",
    "charges": "charge", "payments": "payment", "paid": "payment", "payouts": "payout",
    "subscriptions": "subscription", "subs": "subscription", "customers": "customer",
    "signups": "signup", "sign-ups": "signup", "registrations": "signup", "registered": "signup",
    "rows": "row", "records": "row", "tables": "table",
    "domains": "domain", "sites": "site", "services": "service", "numbers": "number",
    "runs": "run", "workflows": "workflow", "actions": "workflow", "ci": "workflow",
    "failing": "fail", "failed": "fail", "failures": "fail", "failure": "fail", "broken": "fail",
    "errors": "error", "exceptions": "error", "crashes": "error",
    "users": "user", "people": "user", "members": "user",
    "certificate": "cert", "certs": "cert", "ssl": "cert", "tls": "cert",
    "ports": "port", "disks": "disk", "storage": "disk", "memory": "mem", "ram": "mem", "cpu": "load",
    "blockers": "blocker", "blocking": "blocker", "blocked": "blocker",
    "sprints": "sprint", "stats": "stat", "statistics": "stat", "reviews": "review",
    "expires": "expire", "expiry": "expire", "expiring": "expire", "expiration": "expire",
    "latest": "last", "recent": "last", "newest": "last", "lately": "last",
    "unresolved": "open", "unmerged": "open", "pending": "open", "outstanding": "open",
    "ship": "release", "shipped": "release", "version": "release", "versions": "release",
    "funds": "balance", "attendance": "participant", "attended": "participant", "joined": "participant",
    "mergeable": "status", "red": "fail", "green": "pass", "passing": "pass",
}


def stem(token: str) -> str:
    token = SYNONYMS.get(token, token)
    if len(token) > 4 and token.endswith("ies"):
        token = token[:-3] + "y"
    elif len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        token = token[:-1]
    return SYNONYMS.get(token, token)


def tokens(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9][a-z0-9'-]*", text.lower())
    out = []
    for word in words:
        word = word.strip("'-").removesuffix("'s")
        if word and word not in STOPWORDS:
            out.append(stem(word))
    return out
