"""The Slack side of opsbot, on slack_bolt.

- app.py       SlackBot: the Bolt App, its listeners, exactly-once, the worker pool, replies
- commands.py  /run and /ops
- blocks.py    Block Kit rendering (answers, context line, Why?, confirmations, help)
- webclient.py the WebClient with 429 (Retry-After) and 5xx retries
- ratelimit.py per-user token bucket for LLM-bound requests
- directory.py cached user-group membership and thread participation
- server.py    serve_slack: Socket Mode (default) or HTTP (/slack/events)
- manifest.py  the app manifest; cli.py adds `bot manifest`
"""
