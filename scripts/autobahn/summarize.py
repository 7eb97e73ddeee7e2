"""Print the cases of an Autobahn report whose outcome is not OK (stdlib only).

python3 scripts/autobahn/summarize.py scripts/autobahn/reports/servers/index.json
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def main(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        index = json.load(file)
    status = 0
    for agent, cases in index.items():
        outcomes = Counter(case["behavior"] for case in cases.values())
        print(f"{agent}: {len(cases)} cases, " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
        for number, case in sorted(cases.items(), key=lambda item: _key(item[0])):
            if case["behavior"] not in ("OK", "INFORMATIONAL", "UNIMPLEMENTED"):
                print(f"  {number}: {case['behavior']} (close: {case['behaviorClose']})")
                status = 1
    return status


def _key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "reports/servers/index.json"))
