"""A streamed answer as a transport shows it: the pieces so far, and what is left once the Reply is complete.

The Router hands a plain chat answer over piece by piece (`on_token`); its Reply then carries the whole text,
which may add to what was streamed (a note about a refused action) or, rarely, differ from it (a provider
that failed mid-answer). Transports show the pieces, then only what the stream did not already show.
"""

from __future__ import annotations

from collections.abc import Callable


class StreamedText:
    """An `on_token` sink that passes each piece to `show` (leading blanks of the answer dropped)."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show
        self.text = ""

    def __call__(self, piece: str) -> None:
        """Show one more piece of the answer."""
        if not self.text:
            piece = piece.lstrip()
        if piece:
            self.show(piece)  # before it is added, so `show` can tell the first piece by `started`
            self.text += piece

    @property
    def started(self) -> bool:
        """Whether anything was shown."""
        return bool(self.text)

    def rest(self, final: str) -> str | None:
        """The end of `final` not shown yet ("" when all of it was), or None when the stream showed other text."""
        shown = self.text.rstrip()
        return final[len(shown):] if final.startswith(shown) else None
