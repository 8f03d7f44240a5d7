"""Turn trial's closing summary into the line CI reads: ``N passed, N failed``.

Exit status: 0 when nothing failed and at least one test ran, 1 otherwise.
"""

import re
import sys


def main(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    matches = list(re.finditer(r"^(PASSED|FAILED) \(([^)]*)\)\s*$", text, re.M))
    match = matches[-1] if matches else None
    if match is None:
        print("0 passed, 1 failed")
        print("error: trial printed no summary (see the output above)", file=sys.stderr)
        return 1
    counts = dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2)))
    passed = counts.get("successes", 0)
    failed = sum(counts.get(k, 0) for k in ("failures", "errors", "unexpectedSuccesses"))
    skipped = counts.get("skips", 0)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 and passed > 0 and match.group(1) == "PASSED" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
