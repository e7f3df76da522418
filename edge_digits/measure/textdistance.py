"""Edit distance and character accuracy: how every reading score in the project compares texts."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def char_accuracy(read: str, label: str) -> float:
    """1 - edit_distance / len(label), floored at 0; line breaks are not characters."""
    read, label = read.replace("\n", ""), label.replace("\n", "")
    if not label:
        return 1.0 if not read else 0.0
    return max(0.0, 1.0 - levenshtein(read, label) / len(label))
