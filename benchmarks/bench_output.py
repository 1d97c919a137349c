"""How every benchmark script ends: the load average after the run, and the result as JSON (``--json PATH``)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def finish(result: dict, json_path: str | os.PathLike | None) -> None:
    """Records and prints the load average after the run, then writes ``result`` to ``json_path`` if given."""
    result["load_average_after"] = os.getloadavg()
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in result['load_average_after'])}")
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
        print(f"wrote {path}")
