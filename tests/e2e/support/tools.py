"""The pinned Go tools scripts/tools builds into .tools/bin/ (helm, promtool, prometheus).

`./scripts/test` runs scripts/tools first; a test that needs a tool that is not there fails
(never skips) and says how to build it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .authz import REPO_ROOT

TOOLS_BIN = REPO_ROOT / ".tools" / "bin"


class ToolMissing(RuntimeError):
    pass


def find_tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ToolMissing(f"{path} is missing: run ./scripts/tools (it builds {name} from its pinned Go module)")
    return path
