"""Importers: benchmark and rubric datasets -> :class:`rubrics.schema.RubricItem`.

Formats: IFEval, IFBench, MulDimIF, RaR, HealthBench-style points, Tulu RLVR, the RTT paper's rows, and
generic JSONL / JSON / Parquet /
Hugging Face ``datasets`` tables (canonical items or a column mapping). ``detect_format`` picks the format from
the first record; ``SourceSpec.format`` overrides it.
"""

from rubrics.importers.base import Context, FieldError
from rubrics.importers.polarity import PitfallPolarity
from rubrics.importers.source import (
    CONVERTERS,
    FORMATS,
    DuplicateIndex,
    EmptyInputError,
    FormatName,
    Imported,
    ImportResult,
    RecordFormat,
    SourceReader,
    SourceSpec,
    detect_format,
    import_all,
    import_items,
    validate_item,
)

__all__ = [
    "CONVERTERS",
    "FORMATS",
    "DuplicateIndex",
    "EmptyInputError",
    "ImportResult",
    "Context",
    "FieldError",
    "FormatName",
    "Imported",
    "PitfallPolarity",
    "RecordFormat",
    "SourceReader",
    "SourceSpec",
    "detect_format",
    "import_all",
    "import_items",
    "validate_item",
]
