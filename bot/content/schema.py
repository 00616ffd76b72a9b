"""``content/schema/issue.json``: the JSON Schema of an issue file, generated from the models.

Editors point their YAML language server at it (see docs/content.md) to get completion and
checks while writing. ``dlw-bot schema`` rewrites it; a test fails when it drifts.
"""

from __future__ import annotations

import json

from bot.content.models import Issue

__all__ = ["SCHEMA_FILE", "issue_schema_json"]

SCHEMA_FILE = "schema/issue.json"


def issue_schema_json() -> str:
    schema = Issue.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/deep-learning-weekly/dlw-bot/content/schema/issue.json"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
