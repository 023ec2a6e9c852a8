"""Structured-output schemas the cheap-tier tests and bench/fanout.py ask the fake Messages API for."""

ACTION_ITEMS_SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "minLength": 1},
        "action_items": {"type": "array", "items": {
            "type": "object", "properties": {"owner": {"type": "string"}, "task": {"type": "string"}},
            "required": ["owner", "task"]}},
    },
    "required": ["summary", "action_items"],
}
