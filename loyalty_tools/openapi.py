"""Print the OpenAPI document of the app, to regenerate the committed snapshot after an intended
API change: `python -m loyalty_tools.openapi > docs/openapi.json`."""

from __future__ import annotations

import json

from app import app
from chalicelib.api.openapi import build


def main() -> None:
    print(json.dumps(build(app), indent=2, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main()
