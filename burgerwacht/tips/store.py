"""SQL for tips, the anonymous relay and tip-line call context."""

from __future__ import annotations

from typing import Any

import asyncpg

from burgerwacht.phone import ERASED

TIP_COLUMNS = """t.id, t.alert_id, a.reference, t.candidate_alerts, t.channel, t.text, t.recording_url,
    t.recording_seconds, t.anonymous, t.phone, t.status, t.note, t.led_to_outcome, t.received_at, t.erased_at, t.municipalities,
    t.relay_id,
    (SELECT coalesce(json_agg(json_build_object('n', m.n, 'status', m.status, 'width', m.width, 'height', m.height,
                                                'bytes', m.bytes, 'reason', m.error) ORDER BY m.n), '[]')
     FROM tip_media m WHERE m.tip_id = t.id) AS media"""


async def link(conn: asyncpg.Connection, phone: str | None, delivery_id: int | None) -> asyncpg.Record:
    """Which alert a tip from ``phone`` (on the tip line of ``delivery_id``) is about:
    the SQL function ``tip_link`` (sql/functions/tips.sql), which the SMS intake uses too."""
    return await conn.fetchrow("SELECT * FROM tip_link($1, NULL, $2)", phone, delivery_id)


async def linked_alert(
    conn: asyncpg.Connection, phone: str | None, delivery_id: int | None
) -> asyncpg.Record | None:
    """The one alert a tip from this caller would be linked to (``tip_link``), if any."""
    return await conn.fetchrow(
        f"""SELECT a.id, a.reference, a.municipalities, a.mode, {_OPERATOR_NUMBER}
           FROM tip_link($1, NULL, $2) l JOIN alerts a ON a.id = l.alert_id""",
        phone,
        delivery_id,
    )


# the control-room number of the operator who sent the alert (who asked to send it, when
# a second person approved it), while that user is active
_OPERATOR_NUMBER = """(SELECT s.control_room_number FROM staff_users s
    WHERE s.id = coalesce((a.approval ->> 'requested_by')::bigint, a.sent_by)
      AND s.disabled_at IS NULL) AS operator_number"""


async def alert_brief(conn: asyncpg.Connection, alert_id: int) -> asyncpg.Record | None:
    """What the live line tells the control room about an alert, and whom it rings."""
    return await conn.fetchrow(
        f"SELECT a.id, a.reference, a.municipalities, a.mode, {_OPERATOR_NUMBER} FROM alerts a WHERE a.id = $1",
        alert_id,
    )


SmsTip = tuple[str, str, str, str | None, str, str, bool, str | None, bytes | None, str]
"""The arguments of one SMS tip: sid, phone, text, reference, rest, kind (the command's
name, stored with the MessageSid), anonymous, relay cipher, relay hash, reply texts (JSON)."""


async def sms_intake(pool: asyncpg.Pool, tip: SmsTip) -> asyncpg.Record:
    """The whole of an SMS tip in one atomic statement (sql/functions/tips.sql)."""
    return await pool.fetchrow(
        "SELECT * FROM tip_sms_intake($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb)", *tip
    )


async def sms_intake_batch(pool: asyncpg.Pool, tips: list[SmsTip]) -> list[asyncpg.Record]:
    """Several SMS tips in one statement and one transaction, results in the order given.
    They go in ordered by MessageSid, so concurrent batches claim sids in one order."""
    order = sorted(range(len(tips)), key=lambda i: tips[i][0])
    cols = list(zip(*(tips[i] for i in order), strict=True))
    rows = await pool.fetch(
        "SELECT * FROM tip_sms_intake_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb)",
        *cols[:9],
        tips[0][9],
    )
    results: list[asyncpg.Record | None] = [None] * len(tips)
    for row in rows:
        results[order[row["idx"] - 1]] = row
    if any(r is None for r in results):
        raise RuntimeError("tip_sms_intake_batch returned fewer rows than tips")
    return results  # type: ignore[return-value]


async def add_relay(conn: asyncpg.Connection, cipher: str, phone_hash: bytes) -> int:
    return await conn.fetchval(
        "INSERT INTO tip_relay (phone_cipher, phone_hash) VALUES ($1, $2) RETURNING id", cipher, phone_hash
    )


async def relay_cipher(conn: asyncpg.Connection, relay_id: int) -> str | None:
    return await conn.fetchval("SELECT phone_cipher FROM tip_relay WHERE id = $1", relay_id)


async def insert_tip(conn: asyncpg.Connection, **f: Any) -> asyncpg.Record | None:
    """None when this provider id was stored before (a retried webhook)."""
    return await conn.fetchrow(
        """
        INSERT INTO tips (provider_sid, alert_id, candidate_alerts, municipalities, channel, text, recording_url,
                          recording_seconds, anonymous, phone, resident_id, relay_id, note)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (provider_sid) DO NOTHING
        RETURNING id, received_at
        """,
        f["provider_sid"],
        f["alert_id"],
        f["candidate_alerts"],
        f["municipalities"],
        f["channel"],
        f.get("text"),
        f.get("recording_url"),
        f.get("recording_seconds"),
        f["anonymous"],
        f.get("phone"),
        f.get("resident_id"),
        f.get("relay_id"),
        f.get("note"),
    )


async def tip(conn: asyncpg.Connection, tip_id: int, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {TIP_COLUMNS} FROM tips t LEFT JOIN alerts a ON a.id = t.alert_id WHERE t.id = $1"
        + (" FOR UPDATE OF t" if lock else ""),
        tip_id,
    )


async def list_tips(
    conn: asyncpg.Connection,
    scope: list[str] | None,
    alert_id: int | None,
    status: str | None,
    since: Any,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {TIP_COLUMNS} FROM tips t LEFT JOIN alerts a ON a.id = t.alert_id
        WHERE ($1::text[] IS NULL OR t.municipalities && $1::text[])
          AND ($2::bigint IS NULL OR t.alert_id = $2 OR $2 = ANY(t.candidate_alerts))
          AND ($3::text IS NULL OR t.status = $3)
          AND ($4::timestamptz IS NULL OR t.received_at >= $4)
          AND ($5::bigint IS NULL OR t.id < $5)
        ORDER BY t.id DESC LIMIT $6""",
        scope,
        alert_id,
        status,
        since,
        before,
        limit,
    )


async def update_tip(
    conn: asyncpg.Connection,
    tip_id: int,
    status: str | None,
    note: str | None,
    led_to_outcome: bool | None = None,
) -> None:
    await conn.execute(
        "UPDATE tips SET status = coalesce($2, status), note = coalesce($3, note), "
        "led_to_outcome = coalesce($4, led_to_outcome) WHERE id = $1",
        tip_id,
        status,
        note,
        led_to_outcome,
    )


async def save_call(
    conn: asyncpg.Connection,
    call_sid: str,
    phone: str | None,
    phone_hash: bytes | None,
    delivery_id: int | None,
) -> None:
    await conn.execute(
        """INSERT INTO tip_calls (call_sid, phone, phone_hash, delivery_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (call_sid) DO UPDATE SET delivery_id = coalesce(EXCLUDED.delivery_id, tip_calls.delivery_id)""",
        call_sid,
        phone,
        phone_hash,
        delivery_id,
    )


async def call_context(conn: asyncpg.Connection, call_sid: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT phone, delivery_id FROM tip_calls WHERE call_sid = $1", call_sid)


# ------------------------------------------------------------------ erasure and retention


async def erase_resident(
    conn: asyncpg.Connection, resident_id: int, phone: str, phone_hash: bytes, number_pattern: str
) -> None:
    # the photos of the resident's tips, anonymous ones (by their relay) included
    await erase_media(
        conn,
        """SELECT id FROM tips WHERE phone = $1 OR resident_id = $2
           OR relay_id IN (SELECT id FROM tip_relay WHERE phone_hash = $3)""",
        phone,
        resident_id,
        phone_hash,
    )
    await conn.execute(
        "UPDATE tips SET phone = NULL, resident_id = NULL WHERE phone = $1 OR resident_id = $2",
        phone,
        resident_id,
    )
    # the number written in any tip's text (an anonymous tip keeps no number to find it by)
    await conn.execute(
        "UPDATE tips SET text = regexp_replace(text, $1, $2, 'g') WHERE text ~ $1", number_pattern, ERASED
    )
    await conn.execute("DELETE FROM tip_relay WHERE phone_hash = $1", phone_hash)
    await conn.execute("DELETE FROM tip_calls WHERE phone = $1 OR phone_hash = $2", phone, phone_hash)


async def tips_of(conn: asyncpg.Connection, phone: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, alert_id, channel, text, recording_url, received_at,
                  (SELECT count(*) FROM tip_media m WHERE m.tip_id = tips.id AND m.status = 'stored') AS photos
           FROM tips WHERE phone = $1 ORDER BY id""",
        phone,
    )


async def purge(conn: asyncpg.Connection, tips_days: int, relay_hours: int) -> dict[str, int]:
    media = await erase_media(
        conn, "SELECT id FROM tips WHERE received_at < now() - make_interval(days => $1)", tips_days
    )
    tips = await conn.execute(
        """UPDATE tips SET text = NULL, recording_url = NULL, phone = NULL, resident_id = NULL, note = NULL,
                            erased_at = now()
           WHERE erased_at IS NULL AND received_at < now() - make_interval(days => $1)""",
        tips_days,
    )
    relay = await conn.execute(
        "DELETE FROM tip_relay WHERE created_at < now() - make_interval(hours => $1)", relay_hours
    )
    calls = await conn.execute("DELETE FROM tip_calls WHERE created_at < now() - interval '1 day'")
    inbound = await conn.execute(
        "DELETE FROM inbound_messages WHERE received_at < now() - make_interval(days => $1)", tips_days
    )
    return {
        "tips_erased": int(tips.split()[-1]),
        "relay_purged": int(relay.split()[-1]),
        "calls_purged": int(calls.split()[-1]),
        "inbound_purged": int(inbound.split()[-1]),
        "media_erased": media,
    }


# ------------------------------------------------------------------ photos (tip_media, 0027)

MEDIA_COLUMNS = (
    "tip_id, n, status, source_url, declared_type, content_type, width, height, bytes, error, attempts"
)


async def erase_media(conn: asyncpg.Connection, tips_query: str, *args: Any) -> int:
    """Erase the photos of the tips ``tips_query`` selects (ids): rows with nothing left
    at the provider are deleted; the others lose their picture and wait as 'erased'
    for the fetch job to delete the media at the provider, then go too."""
    deleted = await conn.execute(
        f"DELETE FROM tip_media WHERE source_url IS NULL AND tip_id IN ({tips_query})", *args
    )
    waiting = await conn.execute(
        f"""UPDATE tip_media SET status = 'erased', data = NULL, content_type = NULL, width = NULL,
                  height = NULL, bytes = NULL, error = NULL, next_attempt_at = now(), attempts = 0,
                  updated_at = now()
           WHERE status <> 'erased' AND tip_id IN ({tips_query})""",
        *args,
    )
    return int(deleted.split()[-1]) + int(waiting.split()[-1])


async def add_inbound_media(
    conn: asyncpg.Connection | asyncpg.Pool, provider_sid: str, media: list[tuple]
) -> list[int]:
    """The media of a picture message, rows (n, status, source_url, declared_type, error),
    on the tip stored for ``provider_sid`` (none: the message was no tip). A retried
    webhook adds nothing twice. Returns the tip's id once per row added."""
    rows = await conn.fetch(
        """INSERT INTO tip_media (tip_id, n, status, source_url, declared_type, error)
           SELECT t.id, x.n, x.status, x.url, x.type, x.error
           FROM tips t, unnest($2::smallint[], $3::text[], $4::text[], $5::text[], $6::text[])
                AS x(n, status, url, type, error)
           WHERE t.provider_sid = $1
           ON CONFLICT (tip_id, n) DO NOTHING
           RETURNING tip_id""",
        provider_sid,
        *(list(c) for c in zip(*media, strict=True)),
    )
    return [r["tip_id"] for r in rows]


async def is_tip(pool: asyncpg.Pool, provider_sid: str) -> bool:
    return await pool.fetchval("SELECT EXISTS (SELECT 1 FROM tips WHERE provider_sid = $1)", provider_sid)


async def add_photo(
    conn: asyncpg.Connection, tip_id: int, n: int, data: bytes, width: int, height: int
) -> None:
    """A photo that arrived with the tip itself (the public page's form): stored at once."""
    await conn.execute(
        """INSERT INTO tip_media (tip_id, n, status, content_type, data, width, height, bytes)
           VALUES ($1, $2, 'stored', 'image/jpeg', $3, $4, $5, $6)""",
        tip_id,
        n,
        data,
        width,
        height,
        len(data),
    )


async def claim_media(pool: asyncpg.Pool, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Media due for a fetch or for deletion at the provider, claimed for ``lease_s``
    seconds (a process that dies holding them leaves them to the next run), with the
    MessageSid of their tip; ``attempts`` counts this one."""
    return await pool.fetch(
        f"""UPDATE tip_media m SET attempts = m.attempts + 1,
                  next_attempt_at = now() + make_interval(secs => $2), updated_at = now()
           FROM (SELECT tm.tip_id, tm.n, t.provider_sid FROM tip_media tm JOIN tips t ON t.id = tm.tip_id
                 WHERE tm.source_url IS NOT NULL AND tm.next_attempt_at <= now()
                 ORDER BY tm.next_attempt_at LIMIT $1 FOR UPDATE OF tm SKIP LOCKED) d
           WHERE m.tip_id = d.tip_id AND m.n = d.n
           RETURNING d.provider_sid, {", ".join("m." + c.strip() for c in MEDIA_COLUMNS.split(","))}""",
        limit,
        lease_s,
    )


async def media_fetched(
    pool: asyncpg.Pool,
    tip_id: int,
    n: int,
    status: str,
    *,
    data: bytes | None = None,
    width: int | None = None,
    height: int | None = None,
    error: str | None = None,
    keep_url: bool = True,
) -> None:
    """The end of a fetch: stored, not_kept or failed (a row erased meanwhile stays
    erased). With ``keep_url`` the media are still to be deleted at the provider."""
    await pool.execute(
        """UPDATE tip_media SET status = $3, data = $4, content_type = CASE WHEN $4::bytea IS NULL THEN NULL
                  ELSE 'image/jpeg' END, width = $5, height = $6, bytes = length($4), error = left($7, 500),
                  attempts = 0, next_attempt_at = now(), updated_at = now(),
                  source_url = CASE WHEN $8 THEN source_url END
           WHERE tip_id = $1 AND n = $2 AND status = 'pending'""",
        tip_id,
        n,
        status,
        data,
        width,
        height,
        error,
        keep_url,
    )


async def media_retry(pool: asyncpg.Pool, tip_id: int, n: int, delay_s: float, error: str | None) -> None:
    await pool.execute(
        """UPDATE tip_media SET next_attempt_at = now() + make_interval(secs => $3),
                  error = coalesce(left($4, 500), error), updated_at = now()
           WHERE tip_id = $1 AND n = $2""",
        tip_id,
        n,
        delay_s,
        error,
    )


async def media_released(pool: asyncpg.Pool, tip_id: int, n: int) -> None:
    """Nothing is left at the provider (deleted there, or given up): an erased row goes."""
    await pool.execute("DELETE FROM tip_media WHERE tip_id = $1 AND n = $2 AND status = 'erased'", tip_id, n)
    await pool.execute(
        "UPDATE tip_media SET source_url = NULL, updated_at = now() WHERE tip_id = $1 AND n = $2", tip_id, n
    )


async def media_row(pool: asyncpg.Pool, tip_id: int, n: int, provider_sid: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT $3::text AS provider_sid, {MEDIA_COLUMNS} FROM tip_media WHERE tip_id = $1 AND n = $2",
        tip_id,
        n,
        provider_sid,
    )


async def media_data(conn: asyncpg.Connection, tip_id: int, n: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT status, content_type, data, error FROM tip_media WHERE tip_id = $1 AND n = $2", tip_id, n
    )


async def queue_media_deletions(pool: asyncpg.Pool, message_sid: str, media_sids: list[str]) -> None:
    """Media of a message that became no tip, to be deleted at the provider (a retried
    webhook queues nothing twice)."""
    await pool.execute(
        """INSERT INTO provider_media_deletions (message_sid, media_sid)
           SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING""",
        message_sid,
        media_sids,
    )


async def claim_media_deletions(pool: asyncpg.Pool, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Queued deletions that are due, claimed for ``lease_s`` seconds; ``attempts``
    counts this one."""
    return await pool.fetch(
        """UPDATE provider_media_deletions q SET attempts = q.attempts + 1,
                  next_attempt_at = now() + make_interval(secs => $2)
           FROM (SELECT message_sid, media_sid FROM provider_media_deletions
                 WHERE next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1
                 FOR UPDATE SKIP LOCKED) d
           WHERE q.message_sid = d.message_sid AND q.media_sid = d.media_sid
           RETURNING q.message_sid, q.media_sid, q.attempts""",
        limit,
        lease_s,
    )


async def media_deletion_done(pool: asyncpg.Pool, message_sid: str, media_sid: str) -> None:
    await pool.execute(
        "DELETE FROM provider_media_deletions WHERE message_sid = $1 AND media_sid = $2",
        message_sid,
        media_sid,
    )


async def media_deletion_retry(pool: asyncpg.Pool, message_sid: str, media_sid: str, wait_s: float) -> None:
    await pool.execute(
        """UPDATE provider_media_deletions SET next_attempt_at = now() + make_interval(secs => $3)
           WHERE message_sid = $1 AND media_sid = $2""",
        message_sid,
        media_sid,
        wait_s,
    )
