"""notes.take: an example skill with effects, reached by its declared phrasings and confirmed first."""

from pathlib import Path


def take_note(text: str, ctx) -> dict[str, object]:  # noqa: ANN001 - selftune passes its SkillContext
    """Append `text` as one line to hello-notes.txt in the state folder."""
    path = Path(ctx.settings.home) / "hello-notes.txt"
    with path.open("a", encoding="utf-8") as notes:
        notes.write(" ".join(text.split()) + "\n")
    count = len(path.read_text(encoding="utf-8").splitlines())
    return {"message": f"Noted. hello-notes.txt now holds {count} note{'s' if count != 1 else ''}.", "notes": count}
