"""dataset.convert: convert a dataset file to another format."""

from typing import Any, Literal

from skills.context import SkillContext
from skills.paths import ReadPath, WritePath


def convert(
    path: ReadPath, output: WritePath, to: Literal["messages", "sharegpt", "alpaca"] = "messages",
    allow_lossy: bool = False, scrub: bool = False, *, ctx: SkillContext,
) -> dict[str, Any]:
    """Convert a dataset to messages/sharegpt/alpaca (optionally scrubbing PII) and write it with a manifest."""
    from skills.dataset.convert import convert_file
    from skills.dataset.paths import find_dataset, output_path

    return convert_file(find_dataset(path, ctx), output_path(output, ctx), to, allow_lossy=allow_lossy, scrub=scrub)
