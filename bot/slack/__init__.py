"""The Slack side of opsbot, on slack_bolt.

- bot.py       SlackBot: the Bolt App, its listeners, exactly-once, the worker pool, replies
- commands.py  /run and /ops
- feedback.py  👍/👎 reactions (a 👎 on a script answer becomes a negative)
- learn.py     /ops learn: suggestions with Apply / Skip buttons, admins only
- progress.py  work in progress shown on one message
- delivery.py  the exactly-once key of a delivery, and the gate that lets acks go first
- blocks.py    Block Kit rendering (answers, context line, Why?, confirmations, help)
- webclient.py the WebClient with 429 (Retry-After) and 5xx retries
- directory.py cached user-group membership and thread participation
- server.py    serve_slack: Socket Mode (default) or HTTP (/slack/events)
- httpserver.py the HTTP front end for Events API mode
- manifest.py  the app manifest; cli.py adds `bot manifest`
"""
