"""Phone rule cost: `validation.validate_phone` and `format_phone` per number, metropolitan and overseas.

A bulk workbook of 10,000 rows checks 10,000 phones: metropolitan numbers keep a fast path (a regex over
the overseas ranges `phonenumbers` lists, then one validity check), overseas ones pay one more check.
Also timed: the library's general path (`phonenumbers.parse` + `is_valid_number`) on the same numbers,
and reading back numbers that a spreadsheet stored as numbers (`phone_from_number`).
Prints microseconds per number (median of the runs); always exits 0 (figures, not a test).

Usage: python bench/phones.py [--count N] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def per_item_microseconds(function: Callable[[str], object], items: Sequence, runs: int) -> float:
    """Median over `runs` of the time per item of `function` over `items`, in microseconds."""
    function(items[0])  # metadata loaded, caches filled
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        for item in items:
            function(item)
        timings.append((time.perf_counter() - start) / len(items) * 1e6)
    return statistics.median(timings)


def main() -> None:
    import phonenumbers

    from cpf_tui.services import validation

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    metropolitan = [f"06 12 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}" for i in range(args.count)]
    reunion = [f"0692 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}" for i in range(args.count)]
    stored = [validation.validate_phone(text) for text in metropolitan]
    stored_overseas = [validation.validate_phone(text) for text in reunion]
    as_numbers = [int(text.replace(" ", "")) for text in metropolitan]

    def library(text: str) -> bool:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, "FR"))

    rows = [
        ("validate_phone, metropolitan (06 …)", validation.validate_phone, metropolitan),
        ("validate_phone, Réunion (0692 …)", validation.validate_phone, reunion),
        ("phonenumbers general path, metropolitan", library, metropolitan),
        ("format_phone, metropolitan", validation.format_phone, stored),
        ("format_phone, Réunion", validation.format_phone, stored_overseas),
        ("phone_from_number (612341056 → 06 …)", validation.phone_from_number, as_numbers),
    ]
    print(f"{args.count} numbers, median of {args.runs} runs")
    for label, function, items in rows:
        print(f"  {label:<45} {per_item_microseconds(function, items, args.runs):7.1f} µs")


if __name__ == "__main__":
    main()
