#!/usr/bin/python3
"""README's "How it works" names the tree exactly: every file and folder of
src/ (and src/store/) once, as `src/...`, nothing that does not exist, and
every public header of include/."""
import os
import re
import unittest

ROOT = os.environ.get("TB_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def section(readme):
    """The text of README's "## How it works", up to the next "## " heading."""
    m = re.search(r"^## How it works\n(.*?)(?=^## )", readme, re.M | re.S)
    return m.group(1) if m else ""


def tree(root):
    """src/'s files (*.c, *.h) and folders, and include/'s headers, as README names them."""
    paths, headers = set(), set()
    for d, dirs, files in os.walk(os.path.join(root, "src")):
        rel = os.path.relpath(d, root)
        if rel != "src":
            paths.add(rel + "/")
        paths.update(f"{rel}/{f}" for f in files if f.endswith((".c", ".h")))
    inc = os.path.join(root, "include")
    headers.update(f for f in os.listdir(inc) if f.endswith(".h"))
    return paths, headers


def problems(text, paths, headers):
    """What is wrong with the section `text` for a tree of `paths` and `headers`."""
    named = re.findall(r"`(src/[^`\s]*)`", text)
    out = []
    for p in sorted(paths):
        n = named.count(p)
        if n == 0:
            out.append(f"{p} is not named in README's How it works")
        elif n > 1:
            out.append(f"{p} is named {n} times in README's How it works")
    out += [f"{p} is named in README's How it works but does not exist"
            for p in sorted(set(named) - paths)]
    out += [f"include/{h} is not named in README's How it works"
            for h in sorted(headers) if f"`{h}`" not in text]
    return out


class ReadmeTest(unittest.TestCase):
    def test_how_it_works_matches_the_tree(self):
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            text = section(f.read())
        self.assertIn("`src/main.c`", text, "no How it works section found")
        paths, headers = tree(ROOT)
        self.assertIn("src/store/", paths)
        self.assertEqual(problems(text, paths, headers), [])

    def test_check_sees_each_kind_of_mismatch(self):
        # The checker itself, on a small tree: it must not pass everything.
        paths, headers = {"src/a.c", "src/b_int.h", "src/store/", "src/store/s.c"}, {"tb_a.h"}
        good = ("- `src/a.c`, `src/b_int.h` (`tb_a.h`): a.\n"
                "- `src/store/`, `src/store/s.c`: the store.\n")
        self.assertEqual(problems(good, paths, headers), [])
        self.assertEqual(problems(good.replace("`src/store/s.c`", "s.c"), paths, headers),
                         ["src/store/s.c is not named in README's How it works"])
        self.assertEqual(problems(good + "- `src/a.c` again\n", paths, headers),
                         ["src/a.c is named 2 times in README's How it works"])
        self.assertEqual(problems(good + "- `src/gone.c`\n", paths, headers),
                         ["src/gone.c is named in README's How it works but does not exist"])
        self.assertEqual(problems(good, paths, headers | {"tb_b.h"}),
                         ["include/tb_b.h is not named in README's How it works"])
        readme = "# x\n## How it works\n" + good + "## Tests\n- `src/c.c`\n"
        self.assertEqual(section(readme), good)


if __name__ == "__main__":
    unittest.main()
