"""An alert's photo (issue 17), over HTTP on a real database with the simulator: the
upload is re-encoded (no EXIF/GPS, ≤ 1280 px, ≤ 300 kB), refused with the right status
when it cannot be taken, shown on the public page once the alert was sent, gone (410)
with the page, and sent as MMS media (fetched by the simulator) when twilio.mms is on."""

from __future__ import annotations

import asyncio
import io
from urllib.parse import urlsplit

import pytest
from PIL import Image

from burgerwacht.media.images import MAX_INPUT_BYTES
from tests.helpers.alerting import address, alert_body, create, enrol
from tests.helpers.lifecycle import Worker, post, quiet_queue, running
from tests.helpers.photos import GPS_IFD, has_exif, jpeg_with_gps, png, webp

RESIDENT = "+31630000001"
BUURT = "BU99990101"


@pytest.fixture
def settings_overrides(request):
    """Every page renders afresh (public.page_cache_seconds 0); a test's own overrides added."""
    param = getattr(request, "param", {})
    return {**param, "public": {"page_cache_seconds": 0, **param.get("public", {})}}


def path_of(url: str) -> str:
    return urlsplit(url).path


async def draft(client, db, op, **kw) -> dict:
    centre = await address(db, "9991AA", 75)
    await enrol(db, RESIDENT, centre["id"])
    return await create(client, op, alert_body({"type": "areas", "codes": [BUURT]}, **kw))


async def put_photo(client, op, alert_id: int, data: bytes, content_type="image/jpeg", **params):
    return await client.put(
        f"/api/v1/alerts/{alert_id}/photo",
        data=data,
        params=params,
        headers={**op, "Content-Type": content_type},
    )


async def send(client, op, alert_id: int) -> dict:
    resp = await client.post(f"/api/v1/alerts/{alert_id}/send", headers=op)
    assert resp.status == 202, await resp.text()
    return await (await client.get(f"/api/v1/alerts/{alert_id}", headers=op)).json()


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_gps_jpeg_is_reencoded_and_public_only_once_sent(client, db, op, settings):
    alert = await draft(client, db, op, title="Vermiste jongen Sam")
    original = jpeg_with_gps(2400, 1600)
    assert has_exif(original) and image_of(original).getexif().get_ifd(GPS_IFD)
    resp = await put_photo(client, op, alert["id"], original, alt="Sam in een groene jas")
    assert resp.status == 200, await resp.text()
    out = await resp.json()
    token = await db.fetchval("SELECT public_token FROM alerts WHERE id = $1", alert["id"])
    assert out["photo_url"] == f"{settings.short_base}/a/{token}/photo.jpg"
    assert out["photo"]["width"] == 1280 and out["photo"]["height"] == 853
    assert out["photo"]["alt"] == "Sam in een groene jas" and 0 < out["photo"]["bytes"] <= 300_000
    # operators see the re-encoded result; the public does not, before the alert was sent
    resp = await client.get(f"/api/v1/alerts/{alert['id']}/photo", headers=op)
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    stored = await resp.read()
    assert len(stored) == out["photo"]["bytes"]
    photo_path = path_of(out["photo_url"])
    resp = await client.get(photo_path)
    assert resp.status == 404 and b"SERIAL" not in await resp.read()
    assert (await client.head(photo_path)).status == 404
    audit = await db.fetchval("SELECT details FROM audit_log WHERE action = 'alert.photo'")
    assert audit["width"] == 1280 and audit["source_format"] == "JPEG"

    sent = await send(client, op, alert["id"])
    assert sent["photo_url"] == out["photo_url"]
    resp = await client.get(photo_path)
    assert resp.status == 200, await resp.text()
    data = await resp.read()
    assert data == stored
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    # no EXIF (GPS, camera serial), no metadata at all; within the MMS bounds
    assert not has_exif(data) and b"SERIAL-123456" not in data and b"PhoneMaker" not in data
    image = image_of(data)
    assert image.format == "JPEG" and max(image.size) <= 1280 and len(data) <= 300_000
    assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info
    # HEAD: the same headers, no body; 304 on the ETag
    head = await client.head(photo_path)
    assert head.status == 200 and await head.read() == b""
    assert head.headers["Content-Length"] == str(len(data)) and head.headers["ETag"] == resp.headers["ETag"]
    assert head.headers["Content-Type"] == "image/jpeg"
    again = await client.get(photo_path, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304 and await again.read() == b""

    # the page shows it with its size and alt text, and nothing personal
    page_path = path_of(sent["public_url"])
    resp = await client.get(page_path)
    html = await resp.text()
    assert resp.status == 200
    assert f'<img src="/a/{token}/photo.jpg" width="1280" height="853" alt="Sam in een groene jas"' in html, (
        html
    )
    for personal in (RESIDENT, RESIDENT[3:], "SERIAL", "52.37", "4.89"):
        assert personal not in html, personal
    head = await client.head(page_path)
    assert head.status == 200 and await head.read() == b""
    assert (
        head.headers["Content-Type"].startswith("text/html") and head.headers["ETag"] == resp.headers["ETag"]
    )
    allow = (await client.options(page_path)).headers["Allow"]
    assert [m.strip() for m in allow.split(",")] == ["GET", "HEAD", "OPTIONS"]


async def test_png_and_webp_are_taken_and_alt_defaults_to_the_title(client, db, op):
    alert = await draft(client, db, op, title="Gestolen bakfiets")
    resp = await put_photo(client, op, alert["id"], png(64, 48, alpha=True), "image/png")
    assert resp.status == 200, await resp.text()
    photo = (await resp.json())["photo"]
    assert (photo["width"], photo["height"], photo["alt"]) == (64, 48, "")
    resp = await put_photo(client, op, alert["id"], webp(40, 30), "image/webp")  # replaces it
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["photo"]["width"] == 40
    assert await db.fetchval("SELECT count(*) FROM alert_photos") == 1
    sent = await send(client, op, alert["id"])
    html = await (await client.get(path_of(sent["public_url"]))).text()
    assert 'width="40" height="30" alt="Gestolen bakfiets"' in html


async def test_refusals_leave_nothing_behind(client, db, op, staff, settings):
    alert = await draft(client, db, op)
    url = f"/api/v1/alerts/{alert['id']}/photo"
    # declared type: 415
    resp = await put_photo(client, op, alert["id"], jpeg_with_gps(32, 32), "text/plain")
    assert resp.status == 415 and resp.content_type == "application/problem+json"
    resp = await put_photo(client, op, alert["id"], png(), "image/gif")
    assert resp.status == 415
    # over 5 MB: 413, by Content-Length (not read) and by counting a chunked body
    resp = await put_photo(client, op, alert["id"], b"\xff" * (MAX_INPUT_BYTES + 1))
    assert resp.status == 413 and "5 MB" in (await resp.json())["detail"]

    async def chunks():
        for _ in range(6):
            yield b"\xff" * (1024 * 1024)

    resp = await client.put(url, data=chunks(), headers={**op, "Content-Type": "image/jpeg"})
    assert resp.status == 413
    # the content decides: 422 with the reason
    resp = await put_photo(client, op, alert["id"], b"GIF89a not a photo at all", "image/png")
    body = await resp.json()
    assert resp.status == 422 and body["detail"] == "the file is not a readable JPEG, PNG or WebP photo"
    resp = await put_photo(client, op, alert["id"], jpeg_with_gps(64, 64)[:300], "image/jpeg")
    assert resp.status == 422 and "damaged" in (await resp.json())["detail"]
    resp = await put_photo(client, op, alert["id"], b"", "image/jpeg")
    assert resp.status == 422
    resp = await put_photo(client, op, alert["id"], png(), "image/png", alt="a\x07b")
    assert resp.status == 422 and (await resp.json())["errors"][0]["loc"] == "query.alt"
    # who: another role 403, another municipality's operator 404 (as every alert route)
    analyst = await staff("analyst", "GM9999")
    assert (await put_photo(client, analyst, alert["id"], png(), "image/png")).status == 403
    other = await staff("operator", "GM8888")
    assert (await put_photo(client, other, alert["id"], png(), "image/png")).status == 404
    assert (await client.delete(url, headers=other)).status == 404
    assert (await client.get(url, headers=op)).status == 404  # no photo yet
    assert (await client.delete(url, headers=op)).status == 404
    assert await db.fetchval("SELECT count(*) FROM alert_photos") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'alert.photo%'") == 0
    # a draft's photo can be removed
    assert (await put_photo(client, op, alert["id"], png(), "image/png")).status == 200
    resp = await client.delete(url, headers=op)
    assert resp.status == 200 and (await resp.json())["photo_url"] is None
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert.photo_delete'") == 1
    # once sent: a new photo is a 409 before the body is looked at ...
    assert (await put_photo(client, op, alert["id"], png(), "image/png")).status == 200
    sent = await send(client, op, alert["id"])
    resp = await put_photo(client, op, alert["id"], b"not even a photo", "image/png")
    assert resp.status == 409 and (await resp.json())["type"].endswith("not-a-draft")
    assert await db.fetchval("SELECT count(*) FROM alert_photos") == 1
    public = path_of(sent["photo_url"])
    assert (await client.get(public)).status == 200
    # ... but it can be withdrawn at any time (a wrong photo, consent withdrawn): gone from
    # the page at once, audited
    resp = await client.delete(url, headers=op)
    assert resp.status == 200 and (await resp.json())["photo_url"] is None
    assert await db.fetchval("SELECT count(*) FROM alert_photos") == 0
    await asyncio.sleep(settings.public.page_cache_seconds)
    assert (await client.get(public)).status == 404
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert.photo_delete'") == 2


async def test_photo_goes_with_the_page(client, db, op, settings):
    from burgerwacht.photos.jobs import purge_photos

    alert = await draft(client, db, op)
    assert (await put_photo(client, op, alert["id"], png(), "image/png")).status == 200
    sent = await send(client, op, alert["id"])
    photo = path_of(sent["photo_url"])
    await post(client, f"/api/v1/alerts/{alert['id']}/close", op, {"message": "Afgelopen."}, 202)
    assert (await client.get(photo)).status == 200  # the closed page still shows it
    await purge_photos(client.app)
    assert await db.fetchval("SELECT count(*) FROM alert_photos") == 1
    days = settings.public.page_days_after_close
    await db.execute(
        "UPDATE alerts SET closed_at = now() - make_interval(days => $2) - interval '1 minute' WHERE id = $1",
        alert["id"],
        days,
    )
    # gone with the page: 410 at once, and deleted by the purge job
    resp = await client.get(photo)
    assert resp.status == 410 and resp.content_type == "text/html"
    assert (await client.head(photo)).status == 410
    assert (await client.get(path_of(sent["public_url"]))).status == 410
    assert await purge_photos(client.app) == {"purged": 1}
    assert await db.fetchval("SELECT count(*) FROM alert_photos") == 0
    out = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=op)).json()
    assert out["photo_url"] is None and out["photo"] is None
    assert (await client.get(f"/api/v1/alerts/{alert['id']}/photo", headers=op)).status == 404


@pytest.mark.parametrize("settings_overrides", [{"twilio": {"mms": True}}], indirect=True)
async def test_mms_carries_the_photo_and_the_simulator_fetches_it(client, sandbox, db, op, settings):
    alert = await draft(client, db, op)
    resp = await put_photo(client, op, alert["id"], jpeg_with_gps(1600, 1200))
    assert resp.status == 200, await resp.text()
    photo = (await resp.json())["photo"]
    sent = await send(client, op, alert["id"])
    async with running(Worker(settings)):
        await quiet_queue(db)
    assert (await sandbox.client.post("/sandbox/flush")).status == 200  # the media fetch finished
    [sms] = await sandbox.outbound(RESIDENT)
    assert [m["url"] for m in sms["media"]] == [sent["photo_url"]]
    [media] = sms["media"]
    assert media["http_status"] == 200 and media["error"] is None
    assert media["content_type"] == "image/jpeg" and media["bytes"] == photo["bytes"]
    # a follow-up is plain SMS: the photo went with the start message
    await post(client, f"/api/v1/alerts/{alert['id']}/updates", op, {"message": "Nu bij de brug."}, 202)
    async with running(Worker(settings)):
        await quiet_queue(db)
    update = [m for m in await sandbox.outbound(RESIDENT) if "brug" in m["body"]]
    assert len(update) == 1 and update[0]["media"] == []


async def test_without_twilio_mms_the_sms_has_no_media(client, sandbox, db, op, settings):
    assert settings.twilio.mms is False
    alert = await draft(client, db, op)
    assert (await put_photo(client, op, alert["id"], png(), "image/png")).status == 200
    await send(client, op, alert["id"])
    async with running(Worker(settings)):
        await quiet_queue(db)
    [sms] = await sandbox.outbound(RESIDENT)
    assert sms["media"] == [] and sms["body"]


async def test_openapi_documents_the_upload_and_head(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    put = doc["paths"]["/api/v1/alerts/{alert_id}/photo"]["put"]
    content = put["requestBody"]["content"]
    assert set(content) == {"image/jpeg", "image/png", "image/webp"}
    assert content["image/png"]["schema"]["maxLength"] == MAX_INPUT_BYTES
    assert {"200", "403", "404", "409", "413", "415", "422"} <= set(put["responses"])
    assert any(p["name"] == "alt" and p["in"] == "query" for p in put["parameters"])
    assert {"get", "delete", "put"} <= set(doc["paths"]["/api/v1/alerts/{alert_id}/photo"])
    assert {"get", "head"} <= set(doc["paths"]["/a/{token}/photo.jpg"])
    assert "head" in doc["paths"]["/a/{token}"]
    alert = doc["components"]["schemas"]["AlertOut"]["properties"]
    assert "photo_url" in alert and "photo" in alert


async def test_simulator_checks_media_urls_and_records_a_failed_fetch(client, sandbox, settings):
    from burgerwacht.messaging import TwilioProvider
    from burgerwacht.messaging.errors import ProviderError

    t = settings.twilio
    async with TwilioProvider(
        account_sid=t.account_sid,
        auth_token=t.auth_token,
        from_number=t.from_number,
        api_base=str(t.api_base).rstrip("/"),
    ) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.send_sms(RESIDENT, "Let op", media_url=["not-a-url"])
        assert caught.value.code == 21620
        missing = f"{settings.public_base}/a/AAAAAAAAAA/photo.jpg"  # no such page: 404
        sent = await provider.send_sms(RESIDENT, "Let op", media_url=[missing])
    assert (await sandbox.client.post("/sandbox/flush")).status == 200
    [message] = [m for m in await sandbox.outbound(RESIDENT) if m["sid"] == sent.sid]
    [media] = message["media"]
    assert media["url"] == missing and media["http_status"] == 404 and media["error"] == "HTTP 404"
    assert media["content_type"].startswith("text/html")


async def test_an_abandoned_draft_loses_its_photo(client, db, op):
    from burgerwacht.photos.jobs import DRAFT_PHOTO_DAYS, purge_photos

    fresh = await draft(client, db, op)
    old = await create(client, op, alert_body({"type": "areas", "codes": [BUURT]}))
    for alert in (fresh, old):
        assert (await put_photo(client, op, alert["id"], png(), "image/png")).status == 200
    await db.execute(
        "UPDATE alert_photos SET created_at = now() - make_interval(days => $2) - interval '1 minute'"
        " WHERE alert_id = $1",
        old["id"],
        DRAFT_PHOTO_DAYS,
    )
    assert await purge_photos(client.app) == {"purged": 1}
    assert [r["alert_id"] for r in await db.fetch("SELECT alert_id FROM alert_photos")] == [fresh["id"]]


async def test_cap_export_names_the_page_and_the_photo(client, db, op):
    from defusedxml import ElementTree as ET

    from burgerwacht.cap import validate_cap

    alert = await draft(client, db, op)
    assert (
        await put_photo(client, op, alert["id"], png(), "image/png", alt="De gezochte fiets")
    ).status == 200
    sent = await send(client, op, alert["id"])
    resp = await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)
    assert resp.status == 200
    xml = await resp.read()
    validate_cap(xml)
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    info = ET.fromstring(xml).find("cap:info", ns)
    assert info.findtext("cap:web", namespaces=ns) == sent["public_url"]
    resource = info.find("cap:resource", ns)
    assert resource.findtext("cap:resourceDesc", namespaces=ns) == "Foto: De gezochte fiets"
    assert resource.findtext("cap:mimeType", namespaces=ns) == "image/jpeg"
    assert resource.findtext("cap:uri", namespaces=ns) == sent["photo_url"]
    photo = await client.get(path_of(sent["photo_url"]))
    assert (
        int(resource.findtext("cap:size", namespaces=ns)) == len(await photo.read()) == sent["photo"]["bytes"]
    )
    # withdrawn: the Cancel names neither
    await post(client, f"/api/v1/alerts/{alert['id']}/cancel", op, None, 200)
    cancel = await (await client.get(f"/api/v1/alerts/{alert['id']}/cap", headers=op)).read()
    validate_cap(cancel)
    info = ET.fromstring(cancel).find("cap:info", ns)
    assert info.find("cap:resource", ns) is None and info.find("cap:web", ns) is None
