"""text.word_count: a tiny example skill."""


def word_count(text: str) -> dict[str, int]:
    """Count the words and characters of `text`."""
    return {"words": len(text.split()), "characters": len(text)}
