"""The memory facade the Router, Session and transports call: log, recall, feedback, consent, forget, harvest."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty
from typing import Any

from config.errors import NotFound, SelftuneError, UsageError
from config.messages import IncomingMessage, ReplyKind
from config.settings import Settings
from config.state import connect
from memory import consent, heal
from memory import harvest as harvesting
from memory import log as convlog
from memory.forget import ForgetResult, apply_retention, forget
from memory.log import LoggedMessage
from memory.recall import RecallHit, RecallIndex, build_where

logger = logging.getLogger(__name__)
RATINGS = {"👍": 1, "+1": 1, "up": 1, "1": 1, "👎": -1, "-1": -1, "down": -1}
_RETENTION_APPLIED: set[str] = set()  # retention runs once per state dir per process, when memory opens


class Memory:
    """Conversation memory of one state directory."""

    def __init__(self, settings: Settings, *, index_on_log: bool = True, heal_in_background: bool = False) -> None:
        self.settings = settings
        # False: logging writes only SQLite (no model load, no Chroma), and the next recall or
        # `sync()` embeds what is new; SQLite stays the source of truth, so a crash loses nothing.
        self.index_on_log = index_on_log
        # True (the bot): a short index found by a search is rebuilt on a thread and the search says so;
        # False (CLI, skills): it is rebuilt before the search goes on.
        self.heal_in_background = heal_in_background
        self.conn = connect(settings)
        for module in (convlog, consent, harvesting):
            module.init_schema(self.conn)
        self.index = RecallIndex(settings)
        policy = f"{settings.home}:{settings.memory.retention_days}"
        if settings.memory.retention_days is not None and policy not in _RETENTION_APPLIED:
            _RETENTION_APPLIED.add(policy)
            self.apply_retention()

    def close(self) -> None:
        """Release the database connection and the Chroma client."""
        self.index.close()
        self.conn.close()

    # --- logging -----------------------------------------------------------------------------
    def log_message(self, message: LoggedMessage) -> LoggedMessage:
        """Store one message in the log and the recall index; a message id seen before is ignored."""
        stored = self.log_many([message])
        return stored[0] if stored else message

    def log_many(self, messages: Sequence[LoggedMessage]) -> list[LoggedMessage]:
        """Store messages (secrets scrubbed) in the log (first, the source of truth), then (unless deferred) index them."""
        stored = convlog.insert_messages(self.conn, messages)
        if stored and self.index_on_log:
            self._index(stored)
        return stored

    def log_incoming(self, msg: IncomingMessage, *, text: str | None = None) -> LoggedMessage:
        """Log a person's message as the Router received it (text overrides, e.g. a voice transcript)."""
        return self.log_message(LoggedMessage(
            id=msg.message_id or convlog.new_id(),
            transport=msg.transport, channel=msg.channel, author=msg.user, role="user",
            text=msg.text if text is None else text, created_at=msg.created_at, reply_to=msg.reply_to,
        ))

    def log_reply(self, text: str, *, to: IncomingMessage | LoggedMessage, persona: str | None = None,
                  adapter: str | None = None, message_id: str | None = None, kind: ReplyKind = "chat") -> LoggedMessage:
        """Log the assistant's reply to a message: its kind (only chat is harvested), persona and adapter."""
        replied_to = to.id if isinstance(to, LoggedMessage) else to.message_id
        return self.log_message(LoggedMessage(
            id=message_id or convlog.new_id(), transport=to.transport, channel=to.channel, author="assistant",
            role="assistant", text=text, reply_to=replied_to, persona=persona, adapter=adapter, kind=kind,
        ))

    def _index(self, messages: Sequence[LoggedMessage]) -> bool:
        if heal.current(self.settings.home) is not None:  # the rebuild replaces the index; index these after it
            return False
        try:
            self.index.add(messages)
        except Exception as exc:  # the log has it; `sync()`/`reindex` will catch up
            logger.warning("recall index not updated (%s); messages stay in the log and are indexed later", exc)
            return False
        ids = [m.id for m in messages]
        # A background index run can read a message just before a forget removes it; never let it come back.
        gone = set(ids) - set(convlog.get_messages(self.conn, ids))
        if gone:
            self.index.delete(message_ids=sorted(gone))
        convlog.mark_indexed(self.conn, ids)
        return True

    def sync(self, limit: int = 10_000) -> int:
        """Index messages the log has but the index missed (e.g. after a crash); return how many."""
        done = 0
        if heal.current(self.settings.home) is not None:  # a rebuild is replacing the index; it catches up after
            return 0
        if convlog.unindexed(self.conn, limit=1) and not self.reembed_if_needed():
            return 0
        while done < limit and (pending := convlog.unindexed(self.conn, limit=min(1000, limit - done))):
            if not self._index(pending):
                break  # the index is unwritable now; the log keeps the messages for the next try
            done += len(pending)
        return done

    def reembed_if_needed(self) -> bool:
        """Re-embed the whole log when memory.embedder changed the vector space; False when that failed."""
        try:
            if not self.index.mismatched:
                return True
        except SelftuneError as exc:
            logger.warning("%s", exc)
            return False
        logger.warning("memory.embedder is %s but the recall index holds %s vectors: re-embedding the log once",
                       self.index.backend, self.index.stored_space)
        try:
            self.reindex()
        except SelftuneError as exc:  # recall stays on what it has; the next recall tries again
            logger.warning("%s", exc)
            return False
        return True

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuild the recall index from the SQLite log; return the number of messages indexed.

        The rebuild runs in a fresh process: Chroma writes its HNSW files from malloc'd memory, and in
        this process that memory may still hold text that was just forgotten (a test caught it on disk).
        While it runs, `chroma.rebuilding` tells searches (in any process) to say so; a second rebuild waits its turn.
        """
        self._claim_rebuild()
        return self._rebuild_claimed(progress)

    def _claim_rebuild(self) -> None:
        """Hold the rebuild marker, or raise IndexRebuilding when another rebuild holds it."""
        if not heal.claim(self.settings.home, convlog.count_messages(self.conn)):
            state = heal.current(self.settings.home)
            raise heal.rebuilding_error(state or heal.RebuildState(pid=0, started=0))

    def _rebuild_claimed(self, progress: Callable[[int, int], None] | None = None) -> int:
        home = self.settings.home
        try:
            self.index.close()
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            worker = ctx.Process(target=_reindex_in_fresh_process, args=(self.settings, queue), daemon=True)
            worker.start()
            try:
                return _follow_reindex(worker, queue, _recording(home, progress))
            finally:
                worker.join(timeout=30)
        finally:
            heal.release(home)

    def ensure_index(self) -> None:
        """Rebuild a missing or short recall index from the log (see memory.heal); raise IndexRebuilding while
        one is under way, or when this Memory heals in the background and has just started one."""
        state = heal.current(self.settings.home)
        if state is not None:
            raise heal.rebuilding_error(state)
        chunks, indexed = self.index.count(), heal.indexed_count(self.conn)
        if not heal.is_short(chunks, indexed):
            return
        logger.warning("the recall index holds %d chunks but the log has %d indexed messages: rebuilding it "
                       "from the log%s", chunks, indexed, " in the background" if self.heal_in_background else "")
        self._claim_rebuild()  # before the thread starts, so the next search already sees it under way
        if not self.heal_in_background:
            self._rebuild_claimed()
            return
        threading.Thread(target=self._heal_quietly, name="memory-reindex", daemon=True).start()
        raise heal.rebuilding_error(heal.RebuildState(pid=0, started=0, total=convlog.count_messages(self.conn)))

    def _heal_quietly(self) -> None:
        try:
            self._rebuild_claimed()
        except Exception:  # the next search finds the index still short and tries again
            logger.warning("rebuilding the recall index failed", exc_info=True)

    def _reindex_here(self, progress: Callable[[int, int], None] | None = None) -> int:
        total = convlog.count_messages(self.conn)
        self.index.rebuild()
        batch: list[LoggedMessage] = []
        done = 0
        for msg in convlog.iter_messages(self.conn):
            batch.append(msg)
            if len(batch) >= 512:
                done += self._flush(batch, total, progress)
        return done + self._flush(batch, total, progress, final=True)

    def _flush(self, batch: list[LoggedMessage], total: int,
               progress: Callable[[int, int], None] | None, final: bool = False) -> int:
        count = len(batch)
        if batch:
            self.index.add(batch)
            convlog.mark_indexed(self.conn, [m.id for m in batch])
            batch.clear()
        if progress is not None and (count or final):
            progress(count, total)
        return count

    # --- recall --------------------------------------------------------------------------------
    def recall(self, query: str, channel: str | None = None, k: int = 4, *, user: str | None = None,
               since: datetime | None = None, until: datetime | None = None) -> list[RecallHit]:
        """The k past messages closest in meaning to query, optionally limited to a channel/user/time."""
        self.ensure_index()  # a lost index is rebuilt from the log, never searched as if memory were empty
        self.sync(limit=2000)  # deferred logs and crash leftovers; one partial-index lookup when there are none
        self.reembed_if_needed()  # an index of another embedder's space is rebuilt before it is queried
        where = build_where(channel=channel, author=user, since=since, until=until)
        return self.index.query(query, k=k, where=where)

    # --- feedback and consent ------------------------------------------------------------------
    def feedback(self, message_id: str, user: str, rating: int | str) -> None:
        """Record a 👍/👎 (or +1/-1) from user on a logged message."""
        value = RATINGS.get(str(rating).strip())
        if value is None:
            raise UsageError(f"Feedback must be 👍 or 👎 (+1/-1), not {rating!r}.")
        if convlog.get_message(self.conn, message_id) is None:
            raise NotFound(f"Message {message_id} is not in memory (it may have been forgotten).")
        convlog.add_feedback(self.conn, message_id, user, value)

    def get_message(self, message_id: str) -> LoggedMessage | None:
        """One logged message by id, if it is still in memory."""
        return convlog.get_message(self.conn, message_id)

    def last_answer(self, channel: str) -> LoggedMessage | None:
        """The newest persona answer in a channel (what a 👍/👎 without a message id refers to)."""
        return convlog.last_answer(self.conn, channel)

    def set_consent(self, channel: str, enabled: bool, changed_by: str) -> consent.ConsentChange:
        """Turn harvesting for a channel on or off, recording who and when."""
        return consent.set_consent(self.conn, channel, enabled, changed_by)

    def consented(self, channel: str) -> bool:
        """True when the channel currently allows its conversations to become training data."""
        return consent.is_consented(self.conn, channel)

    # --- forgetting and harvesting ----------------------------------------------------------------
    def forget(self, *, user: str | None = None, channel: str | None = None, before: datetime | None = None,
               ids: list[str] | None = None, through_seq: int | None = None) -> ForgetResult:
        """Remove messages matching all given conditions from the log and the index (ids/through_seq: a fixed set)."""
        return forget(self.conn, self.index, user=user, channel=channel, before=before, ids=ids,
                      through_seq=through_seq)

    def matching_ids(self, query: str, *, user: str | None = None, channel: str | None = None,
                     before: datetime | None = None, max_distance: float = 0.6, k: int = 50) -> list[str]:
        """Ids of the messages (of user, in channel, before a time) close in meaning to query: what 'forget what
        I said about X' means (cosine distance under max_distance, at most k)."""
        hits = self.recall(query, channel=channel, k=k, user=user, until=before)
        return list(dict.fromkeys(h.message_id for h in hits if h.distance <= max_distance))

    def apply_retention(self) -> ForgetResult | None:
        """Forget what is older than settings.memory.retention_days (no-op when unset)."""
        return apply_retention(self.conn, self.index, self.settings.memory.retention_days)

    def preferences(self, *, persona: str | None = None, kind: str = "dpo") -> list[dict]:
        """Feedback as preference rows: DPO {prompt, chosen, rejected} or KTO {messages, label}, consented only."""
        from memory.preferences import preference_rows

        return preference_rows(self.conn, persona=persona, kind=kind)

    def harvest_rows(self, channel: str, *, system_prompt: str | None = None,
                     rewrite: Callable[[str], str] | None = None, incremental: bool = True,
                     cursor_name: str | None = None, persona: str | None = None) -> harvesting.HarvestBatch:
        """The channel's consented persona answers since the last build, as rows with provenance. A row's context
        is what the assistant had in mind: nothing older than its session TTL (agent.session_ttl_s)."""
        gap = min(harvesting.SESSION_GAP, timedelta(seconds=self.settings.agent.session_ttl_s))
        return harvesting.collect_rows(self.conn, channel, system_prompt=system_prompt, rewrite=rewrite,
                                       incremental=incremental, cursor_name=cursor_name, persona=persona,
                                       session_gap=gap)

    def mark_harvested(self, batch: harvesting.HarvestBatch, dataset: Path | None) -> None:
        """Record that the batch was written (to `dataset`), so the next build starts after it."""
        harvesting.mark_harvested(self.conn, batch, dataset)


@contextmanager
def open_memory(settings: Settings) -> Iterator[Memory]:
    """A Memory that is closed when the block ends (for skills and CLI commands)."""
    memory = Memory(settings)
    try:
        yield memory
    finally:
        memory.close()


def _reindex_in_fresh_process(settings: Settings, queue: Any) -> None:
    """Child side of Memory.reindex: rebuild, reporting ('progress', n, total), then ('done', count)."""
    memory = Memory(settings)
    try:
        count = memory._reindex_here(progress=lambda n, total: queue.put(("progress", n, total)))
        queue.put(("done", count))
    except Exception as exc:  # reported to the parent as one sentence
        queue.put(("error", str(exc)))
    finally:
        memory.close()


def _recording(home: Path, progress: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
    """A progress callback that also keeps the rebuild marker's count, for the sentence searches get meanwhile."""
    done = 0

    def step(count: int, total: int) -> None:
        nonlocal done
        done += count
        heal.record_progress(home, done, total)
        if progress is not None:
            progress(count, total)

    return step


def _follow_reindex(worker: Any, queue: Any, progress: Callable[[int, int], None] | None) -> int:
    """Relay the child's progress; its count, or a SelftuneError when it fails or dies."""
    while True:
        try:
            kind, *data = queue.get(timeout=1.0)
        except Empty:
            if not worker.is_alive():
                raise SelftuneError("The index rebuild stopped unexpectedly; run `selftune memory reindex` again.") from None
            continue
        if kind == "progress" and progress is not None:
            progress(*data)
        elif kind == "done":
            return int(data[0])
        elif kind == "error":
            raise SelftuneError(f"The index rebuild failed: {data[0]}")
