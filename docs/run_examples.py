"""Execute the code blocks of the documentation pages that opt in, in order, page by page.

A page opts in with the comment ``<!-- examples: run ... -->`` on its first line; its
```` ```python ```` blocks then run in one namespace, so later blocks may use earlier names.
Run by ``nox -s docs`` (after the build): a page whose example fails fails the session.
"""

from __future__ import annotations

import pathlib
import re
import sys
import traceback

HERE = pathlib.Path(__file__).parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def pages() -> list[pathlib.Path]:
    return sorted(
        p
        for p in HERE.rglob("*.md")
        if p.read_text().startswith("<!-- examples: run") and "_build" not in p.parts
    )


def run(page: pathlib.Path) -> bool:
    namespace: dict[str, object] = {"__name__": f"docs:{page.stem}"}
    for k, code in enumerate(BLOCK.findall(page.read_text())):
        try:
            exec(compile(code, f"{page.relative_to(HERE)} (block {k + 1})", "exec"), namespace)
        except Exception:  # noqa: BLE001 - reported with the page and block
            traceback.print_exc()
            return False
    return True


def main() -> int:
    failed = [p for p in pages() if not run(p)]
    for p in pages():
        print(("FAILED " if p in failed else "ok     ") + str(p.relative_to(HERE)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
