"""Photos with tips (issue 17): inbound picture messages through the real simulator with
real signatures (fetched with the account's Basic credentials, bounded in type, size
and time, never from a foreign host, re-encoded without GPS, deleted at the provider),
shown to operators in scope at /api/v1/tips/{id}/media/{n}, erased with the tip by
VERWIJDER and retention; and the public page form's optional photo."""

from __future__ import annotations

import base64
import io
from urllib.parse import urlsplit

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestServer
from PIL import Image

from burgerwacht.media.images import MAX_JPEG_BYTES
from burgerwacht.tips import media as tip_media
from tests.helpers.alerting import address, alert_body, create_and_send, enrol, wait_until
from tests.helpers.photos import has_exif, jpeg_with_gps, png
from tests.helpers.ports import free_port
from tests.helpers.service import TEST_SID, TEST_TOKEN

TIPSTER = "+31611113333"
JPEG = jpeg_with_gps(1600, 1200)
SIM_AUTH = "Basic " + base64.b64encode(f"{TEST_SID}:{TEST_TOKEN}".encode()).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
async def tipster(db):
    aid = await db.fetchval("SELECT id FROM addresses WHERE buurt_code = 'BU99990101' ORDER BY id LIMIT 1")
    return await enrol(db, TIPSTER, aid)


async def picture_sms(sandbox, body: str, *media: dict, **extra) -> dict:
    result = await sandbox.sms(TIPSTER, body, media=list(media), **extra)
    assert result["status"] == 200, result
    return result


async def sim_media(sandbox, message_sid: str) -> list[dict]:
    resp = await sandbox.client.get("/sandbox/media", params={"message_sid": message_sid})
    return (await resp.json())["items"]


async def tip_of(client, op, db, message_sid: str) -> dict:
    tip_id = await db.fetchval("SELECT id FROM tips WHERE provider_sid = $1", message_sid)
    assert tip_id is not None, "the picture message became no tip"
    resp = await client.get(f"/api/v1/tips/{tip_id}", headers=op)
    assert resp.status == 200
    return await resp.json()


async def settled_tip(client, op, db, message_sid: str) -> dict:
    """The tip once no medium is pending and nothing is left to delete at the provider."""

    async def done():
        tip = await tip_of(client, op, db, message_sid)
        left = await db.fetchval(
            "SELECT count(*) FROM tip_media WHERE tip_id = $1 AND source_url IS NOT NULL", tip["id"]
        )
        return tip if left == 0 and all(m["status"] != "pending" for m in tip["media"]) else None

    return await wait_until(done, timeout=15)


async def test_picture_tip_is_fetched_with_basic_auth_reencoded_shown_and_deleted_at_the_provider(
    client, sandbox, db, op, tipster
):
    result = await picture_sms(sandbox, "", {"content_type": "image/jpeg", "data": b64(JPEG)})
    sid = result["message_sid"]
    assert sid.startswith("MM") and "doorgegeven" in result["reply"]  # a picture alone is a tip
    url = result["media"][0]["url"]
    # the simulator serves media only with the account's credentials
    async with sandbox.client.session.get(url) as resp:
        assert resp.status == 401
    tip = await settled_tip(client, op, db, sid)
    assert tip["channel"] == "sms" and tip["phone"] == TIPSTER
    [m] = tip["media"]
    assert m["n"] == 0 and m["status"] == "stored" and m["url"] == f"/api/v1/tips/{tip['id']}/media/0"
    assert max(m["width"], m["height"]) <= 1280 and m["bytes"] <= MAX_JPEG_BYTES
    [at_sim] = await sim_media(sandbox, sid)
    assert at_sim["fetches"] == 1 and at_sim["unauthorized"] == 1  # only our own unauthenticated probe
    assert at_sim["deleted"] is True  # DELETE on the Media resource after the fetch
    async with sandbox.client.session.get(url, headers={"Authorization": SIM_AUTH}) as resp:
        assert resp.status == 404  # gone at the provider

    resp = await client.get(m["url"], headers=op)
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert resp.headers["Cache-Control"] == "private, no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    data = await resp.read()
    assert not has_exif(data) and len(data) == m["bytes"]
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.size == (m["width"], m["height"])
    for n in (1, 9, 10, 99):
        assert (await client.get(f"/api/v1/tips/{tip['id']}/media/{n}", headers=op)).status == 404
    # the resident's access export counts the photo of their tip
    from burgerwacht.tips.service import export_tips

    assert [t["photos"] for t in await export_tips(db, 0, TIPSTER)] == [1]
    # the list shows the media too; unknown tips and operators elsewhere see nothing
    listed = (await (await client.get("/api/v1/tips", headers=op)).json())["items"]
    assert listed[0]["media"][0]["status"] == "stored"
    assert (await client.get(f"/api/v1/tips/{tip['id'] + 1000}/media/0", headers=op)).status == 404


async def test_operator_out_of_scope_gets_404_and_other_roles_403(client, sandbox, db, op, staff, tipster):
    result = await picture_sms(sandbox, "kijk", {"content_type": "image/png", "data": b64(png())})
    tip = await settled_tip(client, op, db, result["message_sid"])
    assert tip["media"][0]["status"] == "stored"
    elsewhere = await staff("operator", "GM0001")
    path = f"/api/v1/tips/{tip['id']}/media/0"
    assert (await client.get(path, headers=elsewhere)).status == 404  # as reading the tip
    assert (await client.get(f"/api/v1/tips/{tip['id']}", headers=elsewhere)).status == 404
    assert (await client.get(path, headers=await staff("analyst", "GM9999"))).status == 403
    assert (await client.get(path)).status == 401


async def test_other_types_are_noted_not_kept_and_not_fetched(client, sandbox, db, op, tipster):
    result = await picture_sms(
        sandbox,
        "filmpje en foto",
        {"content_type": "video/mp4", "data": b64(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)},
        {"content_type": "image/png", "data": b64(png(300, 200))},
        {"content_type": "image/jpeg", "data": b64(b"<html>not a photo</html>")},
    )
    sid = result["message_sid"]
    tip = await settled_tip(client, op, db, sid)
    video, photo, fake = tip["media"]
    assert video["status"] == "not_kept" and "video/mp4" in video["reason"] and video["url"] is None
    assert photo["status"] == "stored" and (photo["width"], photo["height"]) == (300, 200)
    assert fake["status"] == "not_kept" and "JPEG, PNG" in fake["reason"]  # judged by content
    fetches = {m["content_type"]: m for m in await sim_media(sandbox, sid)}
    assert fetches["video/mp4"]["fetches"] == 0  # never downloaded
    assert all(m["deleted"] for m in fetches.values())  # nothing is left at the provider
    resp = await client.get(f"/api/v1/tips/{tip['id']}/media/0", headers=op)
    assert resp.status == 410 and "video/mp4" in (await resp.json())["detail"]


@pytest.mark.parametrize("settings_overrides", [{"tips": {"media_max_bytes": 100_000}}], indirect=True)
async def test_oversize_media_is_refused_with_and_without_content_length(client, sandbox, db, op, tipster):
    big = jpeg_with_gps(800, 600)
    assert len(big) > 100_000
    result = await picture_sms(
        sandbox,
        "grote foto",
        {"content_type": "image/jpeg", "data": b64(big)},
        {"content_type": "image/jpeg", "data": b64(big), "chunked": True},  # cut off while streaming
        {"content_type": "image/png", "data": b64(png())},
    )
    tip = await settled_tip(client, op, db, result["message_sid"])
    sized, streamed, small = tip["media"]
    for m in (sized, streamed):
        assert m["status"] == "not_kept" and "larger than" in m["reason"] and m["url"] is None
    assert small["status"] == "stored"
    assert await db.fetchval("SELECT count(*) FROM tip_media WHERE data IS NOT NULL") == 1
    assert all(m["deleted"] for m in await sim_media(sandbox, result["message_sid"]))


async def test_a_media_url_on_a_foreign_host_is_never_fetched(client, sandbox, db, op, tipster):
    hits: list[str] = []

    async def trap(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=JPEG, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/{tail:.*}", trap)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        sim = urlsplit(str(sandbox.client.make_url("/")))
        sid = "MM" + "5" * 32
        path = f"/2010-04-01/Accounts/{TEST_SID}/Messages/{sid}/Media/ME{'a' * 32}"
        result = await picture_sms(
            sandbox,
            "kijk hier",
            # Twilio's path shape on another port of the same host, and on another host
            {"content_type": "image/jpeg", "url": f"http://127.0.0.1:{server.port}{path}"},
            {"content_type": "image/jpeg", "url": f"http://localhost:{sim.port}{path}"},
            # the provider's host, but another account
            {
                "content_type": "image/jpeg",
                "url": f"http://127.0.0.1:{sim.port}{path.replace('test', 'evil')}",
            },
            {"content_type": "image/jpeg", "url": f"http://user@127.0.0.1:{sim.port}{path}"},
            message_sid=sid,
        )
        assert result["message_sid"] == sid
        tip = await tip_of(client, op, db, result["message_sid"])
        await tip_media.process_due(client.app)  # the job too finds nothing to fetch
        tip = await tip_of(client, op, db, result["message_sid"])
        assert [m["status"] for m in tip["media"]] == ["not_kept"] * 4
        assert all("media host" in m["reason"] for m in tip["media"])
        assert hits == []
        assert await db.fetchval("SELECT count(*) FROM tip_media WHERE source_url IS NOT NULL") == 0
        stats = await (await sandbox.client.get("/sandbox/stats")).json()
        assert stats["requests"].get("media_fetches", 0) == 0
    finally:
        await server.close()


@pytest.mark.parametrize(
    "settings_overrides",
    [{"tips": {"media_timeout_s": 0.3, "media_max_attempts": 2, "media_retry_s": 0.2}}],
    indirect=True,
)
async def test_slow_media_is_pending_409_then_failed_after_bounded_retries(client, sandbox, db, op, tipster):
    result = await picture_sms(
        sandbox, "traag", {"content_type": "image/jpeg", "data": b64(JPEG), "delay_s": 1}
    )
    tip = await tip_of(client, op, db, result["message_sid"])
    assert tip["media"][0]["status"] == "pending" and tip["media"][0]["url"] is None
    resp = await client.get(f"/api/v1/tips/{tip['id']}/media/0", headers=op)
    assert resp.status == 409 and resp.headers["Retry-After"] == "5"

    async def failed():
        await tip_media.process_due(client.app)  # what the tips-media job does every 30 s
        t = await tip_of(client, op, db, result["message_sid"])
        return t["media"][0] if t["media"][0]["status"] != "pending" else None

    m = await wait_until(failed, timeout=15, interval=0.3)
    assert m["status"] == "failed" and "after 2 attempts" in m["reason"]
    [at_sim] = await sim_media(sandbox, result["message_sid"])
    assert at_sim["fetches"] == 2  # bounded: no third try
    assert (await client.get(f"/api/v1/tips/{tip['id']}/media/0", headers=op)).status == 410


async def test_verwijder_erases_the_photos_of_the_residents_tips(client, sandbox, db, op, tipster):
    named = await picture_sms(sandbox, "de auto", {"content_type": "image/jpeg", "data": b64(JPEG)})
    anon = await picture_sms(sandbox, "ANONIEM de bus", {"content_type": "image/png", "data": b64(png())})
    tips = [await settled_tip(client, op, db, r["message_sid"]) for r in (named, anon)]
    assert all(t["media"][0]["status"] == "stored" for t in tips) and tips[1]["anonymous"]
    other = await db.fetchval("SELECT count(*) FROM tip_media")
    assert other == 2
    await sandbox.sms(TIPSTER, "VERWIJDER")
    assert await db.fetchval("SELECT count(*) FROM residents WHERE phone = $1", TIPSTER) == 0
    assert await db.fetchval("SELECT count(*) FROM tip_media") == 0
    for t in tips:
        assert (await client.get(f"/api/v1/tips/{t['id']}/media/0", headers=op)).status == 404
        assert (await (await client.get(f"/api/v1/tips/{t['id']}", headers=op)).json())["media"] == []


async def test_retention_erases_photos_and_waits_for_the_provider_deletion(client, sandbox, db, op, tipster):
    from burgerwacht.tips.jobs import purge_tips

    done = await picture_sms(sandbox, "oud", {"content_type": "image/jpeg", "data": b64(JPEG)})
    tip = await settled_tip(client, op, db, done["message_sid"])
    await db.execute("UPDATE tips SET received_at = now() - interval '91 days' WHERE id = $1", tip["id"])
    # a second old tip whose medium is still to be fetched: erased, deleted at the provider, gone
    waiting = await picture_sms(
        sandbox, "ook oud", {"content_type": "image/png", "data": b64(png()), "delay_s": 1}
    )
    await db.execute(
        "UPDATE tips SET received_at = now() - interval '91 days' WHERE provider_sid = $1",
        waiting["message_sid"],
    )
    result = await purge_tips(client.app)
    assert result["media_erased"] == 2
    assert await db.fetchval("SELECT count(*) FROM tip_media WHERE data IS NOT NULL") == 0
    assert (await client.get(f"/api/v1/tips/{tip['id']}/media/0", headers=op)).status == 404
    await tip_media.fetcher(client.app).wait()
    await tip_media.process_due(client.app)
    assert await db.fetchval("SELECT count(*) FROM tip_media") == 0
    assert all(m["deleted"] for m in await sim_media(sandbox, waiting["message_sid"]))


# ------------------------------------------------------------------ the public page's form


async def _alert_page(client, op, db) -> str:
    centre = await address(db, "9991AA", 75)
    await enrol(db, "+31630000001", centre["id"])
    alert = await create_and_send(client, op, alert_body({"type": "areas", "codes": ["BU99990101"]}))
    got = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    return urlsplit(got["public_url"]).path


def _form(text: str, photo: bytes | None, filename: str = "foto.jpg") -> FormData:
    form = FormData()
    form.add_field("text", text)
    form.add_field("phone", "")
    if photo is not None:
        form.add_field("photo", photo, filename=filename, content_type="image/jpeg")
    return form


async def test_web_form_with_photo_gives_a_linked_tip_with_media(client, sandbox, db, op):
    path = await _alert_page(client, op, db)
    status, html = 0, (await (await client.get(path)).text())
    assert 'enctype="multipart/form-data"' in html and 'name="photo"' in html and 'type="file"' in html
    resp = await client.post(
        f"{path}/tip", data=_form("Jongen bij de brug, zie foto.", JPEG), allow_redirects=False
    )
    status = resp.status
    assert status == 303, await resp.text()
    [tip] = (await (await client.get("/api/v1/tips", headers=op)).json())["items"]
    assert tip["channel"] == "web" and tip["alert_id"] is not None and tip["anonymous"]
    [m] = tip["media"]
    assert m["status"] == "stored" and m["n"] == 0 and max(m["width"], m["height"]) <= 1280
    data = await (await client.get(m["url"], headers=op)).read()
    assert not has_exif(data) and data[:2] == b"\xff\xd8"


async def test_web_form_refuses_a_bad_or_too_large_photo_with_a_dutch_message(client, sandbox, db, op):
    path = await _alert_page(client, op, db)
    resp = await client.post(f"{path}/tip", data=_form("Zie bijlage.", b"%PDF-1.4 geen foto", "x.pdf"))
    html = await resp.text()
    assert resp.status == 422 and "Deze foto kunnen we niet gebruiken" in html and "Zie bijlage." in html
    too_big = b"\xff\xd8\xff\xe0" + b"\x00" * (5 * 1024 * 1024 + 10)
    resp = await client.post(f"{path}/tip", data=_form("Grote foto.", too_big))
    assert resp.status == 422 and "De foto is te groot: hoogstens 5 MB" in await resp.text()
    # an empty file field is no photo: the tip goes in without one
    resp = await client.post(
        f"{path}/tip", data=_form("Zonder foto.", b"", "leeg.jpg"), allow_redirects=False
    )
    assert resp.status == 303
    rows = await db.fetch("SELECT text FROM tips")
    assert [r["text"] for r in rows] == ["Zonder foto."]
    assert await db.fetchval("SELECT count(*) FROM tip_media") == 0


async def test_simulator_media_resource_needs_the_account_and_deletes_through_the_sdk(
    client, sandbox, tipster
):
    from burgerwacht.web.keys import PROVIDER

    result = await picture_sms(sandbox, "foto", {"content_type": "image/png", "data": b64(png())})
    await tip_media.fetcher(client.app).wait()
    sid, url = result["message_sid"], result["media"][0]["url"]
    assert url.startswith(str(sandbox.client.make_url("/")).rstrip("/") + f"/2010-04-01/Accounts/{TEST_SID}/")
    media_sid = url.rsplit("/", 1)[1]
    wrong = "Basic " + base64.b64encode(f"{TEST_SID}:wrong-token".encode()).decode()
    async with sandbox.client.session.delete(url + ".json", headers={"Authorization": wrong}) as resp:
        assert resp.status == 401
    # already deleted by the service after its fetch: a second DELETE (404) counts as done
    assert (await sim_media(sandbox, sid))[0]["deleted"]
    await client.app[PROVIDER].delete_media(sid, media_sid)
    async with sandbox.client.session.get(url + ".json", headers={"Authorization": SIM_AUTH}) as resp:
        assert resp.status == 404


async def test_pictures_with_a_keyword_are_no_tip_and_are_deleted_at_the_provider(
    client, sandbox, db, tipster
):
    result = await picture_sms(sandbox, "INFO", {"content_type": "image/png", "data": b64(png())})
    assert "doorgegeven" not in result["reply"]
    await tip_media.fetcher(client.app).wait()
    assert await db.fetchval("SELECT count(*) FROM tips") == 0
    [m] = await sim_media(sandbox, result["message_sid"])
    assert m["deleted"] and m["fetches"] == 0  # nothing keeps it, nothing downloads it
    # the deletion went through PostgreSQL's queue, which is empty again
    assert await db.fetchval("SELECT count(*) FROM provider_media_deletions") == 0


async def test_queued_deletions_of_pictures_that_became_no_tip_survive_a_restart(client, sandbox, db):
    # left by a process that stopped before its DELETE (the queue is in PostgreSQL, not
    # in the process): the next run of the tips-media job deletes them at the provider
    await db.execute(
        "INSERT INTO provider_media_deletions (message_sid, media_sid) VALUES ('SM00restart', 'ME00restart')"
    )
    counts = await tip_media.process_due(client.app)
    assert counts["deleted"] == 1  # the provider answered 404 (already gone): done
    assert await db.fetchval("SELECT count(*) FROM provider_media_deletions") == 0
