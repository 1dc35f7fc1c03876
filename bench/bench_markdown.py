"""The one way the benchmarks update BENCHMARKS.md: replace their own marked section."""
import os


def replace_section(path, section, begin_mark, end_mark):
    """Replaces the text from begin_mark to end_mark in `path` by `section` (which carries both
    marks), or appends it when the file has no such section; written atomically."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n\n"
    b, e = text.find(begin_mark), text.find(end_mark)
    if b != -1 and e != -1 and e > b:
        text = text[:b] + section.rstrip("\n") + text[e + len(end_mark):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    if not text.endswith("\n"):
        text += "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
