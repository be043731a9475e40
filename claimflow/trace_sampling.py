"""Which deliveries get a trace: a parent-based ratio sampler claimflow can decide with early.

Tracing every delivery costs the receiver far more than the 10% of CPU per request it may add
(docs/performance.md, "Tracing overhead"); a trace sampled out should cost next to nothing. The
SDK's own path for a span sampled out still builds a span, a sampling result and two context
managers for each of the request's two spans, which the receiver's budget cannot afford. So
claimflow makes the decision itself where a trace starts, with the same rule as the SDK's
``parentbased_traceidratio`` sampler (:class:`ParentBasedRatio`, which the tracer provider also
uses, so both always agree):

* a span whose parent is sampled is sampled, one whose parent is not is not (the router and the
  handlers follow the receiver's decision, which travels in ``traceparent``);
* a root span (no parent: a delivery from Redox without ``traceparent``) is sampled when the
  low 64 bits of its trace id are under ``ratio * 2**64``.

The ratio is ``CLAIMFLOW_TRACING__SAMPLE_RATIO`` unless ``OTEL_TRACES_SAMPLER`` names a sampler:
then the standard variables decide (``parentbased_always_on``, ``parentbased_always_off`` and
``parentbased_traceidratio`` with ``OTEL_TRACES_SAMPLER_ARG`` are this sampler; any other name
is the SDK's, and every span takes the SDK's path).
"""

from __future__ import annotations

import os
import threading

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

__all__ = ["DecidedTraceIds", "ParentBasedRatio", "sampler_from_environment"]

_PARENT_BASED_RATIOS = {"parentbased_always_on": 1.0, "parentbased_always_off": 0.0}
_LOW_64_BITS = TraceIdRatioBased.TRACE_ID_LIMIT


class ParentBasedRatio(ParentBased):
    """``ParentBased(TraceIdRatioBased(ratio))``, with the root decision on a trace id at hand."""

    def __init__(self, ratio: float) -> None:
        super().__init__(TraceIdRatioBased(ratio))
        self.ratio = ratio
        self._bound = TraceIdRatioBased.get_bound_for_rate(ratio)

    def samples_root(self, trace_id: int) -> bool:
        """Whether a trace that starts with ``trace_id`` is sampled (TraceIdRatioBased's rule)."""
        return trace_id & _LOW_64_BITS < self._bound


class DecidedTraceIds(RandomIdGenerator):
    """Random ids; a root span decided early gets the trace id its decision was made on.

    The SDK draws a root span's trace id itself and then asks the sampler: without the preset,
    a trace decided as sampled would be sampled a second time on another id. The preset is per
    thread and taken by the next root span of that thread, which follows at once.
    """

    def __init__(self) -> None:
        self._preset = threading.local()

    def preset_trace_id(self, trace_id: int) -> None:
        self._preset.trace_id = trace_id

    def generate_trace_id(self) -> int:
        trace_id: int | None = getattr(self._preset, "trace_id", None)
        if trace_id is None:
            return super().generate_trace_id()
        self._preset.trace_id = None
        return trace_id


def sampler_from_environment(default_ratio: float) -> Sampler | None:
    """The sampler ``OTEL_TRACES_SAMPLER`` (and ``_ARG``) name, else ``default_ratio``'s.

    ``None`` for a sampler that is not parent-based by ratio: the SDK reads the variables then.
    """
    name = os.environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if not name:
        return ParentBasedRatio(default_ratio)
    if name in _PARENT_BASED_RATIOS:
        return ParentBasedRatio(_PARENT_BASED_RATIOS[name])
    if name == "parentbased_traceidratio":
        return ParentBasedRatio(_ratio_argument())
    return None


def _ratio_argument() -> float:
    """``OTEL_TRACES_SAMPLER_ARG``; 1.0 when it is missing or no ratio (as the SDK does)."""
    try:
        ratio = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        return 1.0
    return ratio if 0.0 <= ratio <= 1.0 else 1.0
