"""One results file, several scripts: each rewrites only its own section.

A section is the text between `<!-- begin NAME -->` and `<!-- end NAME -->`;
everything outside the markers (hand-written notes, other scripts' sections)
is kept as it is. A file without the section gets it appended.
"""

from __future__ import annotations

import os
from pathlib import Path


def replace_section(path: Path, name: str, text: str) -> None:
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{text.strip(chr(10))}\n{end}"
    old = path.read_text() if path.is_file() else ""
    if begin in old and end in old.split(begin, 1)[1]:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip() + ("\n\n" if old.strip() else "") + block + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # renamed over: a failed write keeps the old file
    tmp.write_text(new)
    os.replace(tmp, path)
