"""Per-step accounting: every input document ends kept, dropped (with a reason) or errored.

`StepStats` is what one step reports for one shard; shard stats merge by addition, in shard
order, so totals are the same whatever executor or worker count produced them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepStats:
    """Documents and bytes in/out of one step, drops by reason, errors, and time spent."""

    name: str
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    seconds: float = 0.0
    extra: Counter[str] = field(default_factory=Counter)
    # Run-wide values that do not add up over shards (a global step's threshold, the kept
    # fraction): every shard of the step reports the same ones; merging keeps them.
    info: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: StepStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.dropped.update(other.dropped)
        self.errors += other.errors
        self.seconds += other.seconds
        self.extra.update(other.extra)
        for key, value in other.info.items():
            self.info.setdefault(key, value)

    @property
    def docs_dropped(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "docs_dropped": self.docs_dropped,
            "errors": self.errors,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "dropped": dict(sorted(self.dropped.items())),
            "seconds": round(self.seconds, 4),
            **({"extra": dict(sorted(self.extra.items()))} if self.extra else {}),
            **({"info": dict(sorted(self.info.items()))} if self.info else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepStats:
        return cls(
            name=d["name"],
            docs_in=d["docs_in"],
            docs_out=d["docs_out"],
            bytes_in=d["bytes_in"],
            bytes_out=d["bytes_out"],
            dropped=Counter(d.get("dropped", {})),
            errors=d.get("errors", 0),
            seconds=d.get("seconds", 0.0),
            extra=Counter(d.get("extra", {})),
            info=dict(d.get("info", {})),
        )
