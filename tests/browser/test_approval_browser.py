"""Two-person approval and exercise mode in the operator console, in headless Chromium
against the service and the simulator: the approval badge and queue, approving as a
colleague (the author cannot), rejecting with a required reason, and the exercise band."""

from __future__ import annotations

import pytest

from tests.helpers.alerting import address, addresses_near, alert_body, circle, create, enrol, settled
from tests.helpers.browser import browser, requires_chromium, sign_in

pytestmark = [requires_chromium]

AMBER = {"level": "amber_regional", "family_consent": True, "title": "Vermist meisje (8)"}


@pytest.fixture
def service_roles():
    return {"web", "worker"}


async def _residents(db, n: int) -> tuple[dict, list[int]]:
    centre = await address(db, "9991AA", 75)
    near = await addresses_near(db, centre["x"], centre["y"], 200)
    return centre, [await enrol(db, f"+316180000{i:02d}", near[i]) for i in range(n)]


async def test_amber_waits_for_a_colleague_who_approves_it(client, sandbox, db, staff, tmp_path):
    centre, _ = await _residents(db, 3)
    author = await staff("operator", "GM9999", name="Centralist Jansen")
    colleague = await staff("operator", "GM9999", name="Centralist de Vries")
    base = str(client.make_url("/")).rstrip("/")

    async with browser(tmp_path / "a", base) as a:
        page = a.page
        await sign_in(page, author)
        await page.locator("#compose").wait_for(state="visible")
        await page.locator("#level").select_option("amber_regional")
        await page.locator("#consent").check()
        await page.locator("#title").fill("Vermist meisje (8)")
        await page.locator("#message").fill("Vermist: meisje van 8, roze jas. Gezien? Bel 112.")
        await page.locator("#c-lat").fill(f"{centre['lat']:.6f}")
        await page.locator("#c-lon").fill(f"{centre['lon']:.6f}")
        await page.locator("#c-radius").fill("300")
        await page.locator("#to-preview").click()
        await page.locator("#pv-total:has-text('3')").wait_for()
        await page.locator("#confirm").check()
        await page.locator("#send").click()
        wait = page.locator("#watch-approval")
        await wait.wait_for(state="visible")
        assert "Wacht op goedkeuring door een tweede persoon" in await wait.inner_text()
        assert "3 ontvanger(s)" in await wait.inner_text()
        assert await page.locator("#progress").is_hidden()
        alert_id = int(await page.evaluate("sessionStorage.getItem('burgerwacht.watching')"))
        # the watch view says who must act; no approve button for the one who asked
        await page.locator("#watch-own").wait_for(state="visible")
        assert "een collega moet hem goedkeuren" in await page.locator("#watch-own").inner_text()
        assert await page.locator("#watch-approve").count() == 0

        # the author's own queue: the count, but approving is not theirs to do
        await page.locator("#queue-badge:text-is('1')").wait_for()
        await page.locator("#queue-open").click()
        await page.locator(f"#queue-{alert_id}").wait_for()
        assert await page.locator(f"#approve-{alert_id}").is_disabled()
        assert "een collega moet hem goedkeuren" in await page.locator(f"#own-{alert_id}").inner_text()
        assert "gevraagd door u zelf" in await page.locator(f"#queue-{alert_id}").inner_text()
        await a.shot("approval-01-own")
        a.check()
    assert await sandbox.outbound() == []  # nothing went out while it waited

    async with browser(tmp_path / "b", base) as b:
        page = b.page
        await sign_in(page, colleague)
        await page.locator("#queue-badge:text-is('1')").wait_for()
        await page.locator("#queue-open").click()
        item = page.locator(f"#queue-{alert_id}")
        await item.wait_for()
        text = await item.inner_text()
        assert "Vermist meisje (8)" in text and "AMBER Alert regionaal" in text
        assert "gevraagd door Centralist Jansen" in text
        assert await item.locator(".queue-total").inner_text() == "3"
        await b.shot("approval-02-queue")
        await page.locator(f"#approve-{alert_id}").click()
        await page.locator("#watch").wait_for(state="visible")
        await page.locator("#watch-approval").wait_for(state="hidden")
        await page.locator("#queue-badge:text-is('0')").wait_for()
        b.check()

    alert = await settled(client, colleague, alert_id)
    assert alert["status"] in ("sending", "active") and alert["approval"]["approved_at"]
    assert len(await sandbox.outbound()) == 3


async def test_a_colleague_approves_or_rejects_from_the_watch_view(client, sandbox, db, staff, tmp_path):
    centre, _ = await _residents(db, 3)
    author = await staff("operator", "GM9999", name="Centralist Jansen")
    colleague = await staff("operator", "GM9999", name="Centralist de Vries")
    first = await create(client, author, alert_body(circle(centre, 200), **AMBER))
    second = await create(
        client, author, alert_body(circle(centre, 150), **{**AMBER, "title": "Vermiste jongen (10)"})
    )
    for a in (first, second):
        resp = await client.post(f"/api/v1/alerts/{a['id']}/send", headers=author)
        assert resp.status == 202 and (await resp.json())["status"] == "awaiting_approval"
    base = str(client.make_url("/")).rstrip("/")

    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, colleague)
        # approve: straight from the alert's own page, not the queue
        await page.locator(".alert-item", has_text="Vermist meisje (8)").click()
        await page.locator("#watch-approval").wait_for(state="visible")
        decision = page.locator("#watch-decision")
        await decision.wait_for(state="visible")
        await b.shot("approval-04-watch-decision")
        await page.locator("#watch-approve").click()
        await page.locator("#watch-approval").wait_for(state="hidden")
        await decision.wait_for(state="hidden")
        await page.locator("#progress").wait_for(state="visible")
        await page.locator("#queue-badge:text-is('1')").wait_for()

        # reject: a reason is required, then the alert is a draft again with that reason
        await page.locator(".alert-item", has_text="Vermiste jongen (10)").click()
        await decision.wait_for(state="visible")
        await page.locator("#watch-reject").click()
        await page.locator("#watch-reject-confirm").click()
        error = decision.locator(".error")
        await error.wait_for(state="visible")
        assert "Geef een reden op" in await error.inner_text()
        await page.locator("#watch-reject-reason").fill("Eerst de ouders opnieuw bellen.")
        await page.locator("#watch-reject-confirm").click()
        await page.locator("#end-result:has-text('Afgewezen, weer een concept')").wait_for()
        assert "Eerst de ouders opnieuw bellen." in await page.locator("#end-result").inner_text()
        await decision.wait_for(state="hidden")
        await page.locator("#queue-badge:text-is('0')").wait_for()
        b.check()

    approved = await settled(client, colleague, first["id"])
    assert approved["status"] in ("sending", "active") and approved["approval"]["approved_at"]
    assert len(await sandbox.outbound()) == 3  # the approved one only
    rejected = await (await client.get(f"/api/v1/alerts/{second['id']}", headers=author)).json()
    assert rejected["status"] == "draft"
    assert rejected["rejection"]["reason"] == "Eerst de ouders opnieuw bellen."


async def test_reject_needs_a_reason_and_an_exercise_is_unmistakable(client, sandbox, db, staff, tmp_path):
    centre, ids = await _residents(db, 3)
    admin = await staff("admin", "GM9999")
    resp = await client.patch(f"/api/v1/residents/{ids[0]}", json={"exercise": True}, headers=admin)
    assert resp.status == 200, await resp.text()
    author = await staff("operator", "GM9999", name="Centralist Jansen")
    colleague = await staff("operator", "GM9999", name="Centralist de Vries")
    waiting = await create(client, author, alert_body(circle(centre, 200), **AMBER))
    resp = await client.post(f"/api/v1/alerts/{waiting['id']}/send", headers=author)
    assert resp.status == 202 and (await resp.json())["status"] == "awaiting_approval"
    # written by the colleague, sent by the author: the colleague may not approve it either
    theirs = await create(
        client, colleague, alert_body(circle(centre, 150), **{**AMBER, "title": "Vermiste jongen (10)"})
    )
    resp = await client.post(f"/api/v1/alerts/{theirs['id']}/send", headers=author)
    assert resp.status == 202
    base = str(client.make_url("/")).rstrip("/")

    async with browser(tmp_path, base) as b:
        page = b.page
        await sign_in(page, colleague)
        await page.locator("#queue-badge:text-is('2')").wait_for()
        await page.locator("#queue-open").click()
        await page.locator(f"#approve-{theirs['id']}").click()
        refused = page.locator(f"#queue-{theirs['id']} .error")
        await refused.wait_for(state="visible")
        assert "Een collega moet hem goedkeuren" in await refused.inner_text()
        await page.locator(f"#reject-{waiting['id']}").click()
        await page.locator(f"#reject-confirm-{waiting['id']}").click()
        error = page.locator(f"#queue-{waiting['id']} .error")
        await error.wait_for(state="visible")
        assert "Geef een reden op" in await error.inner_text()
        await page.locator(f"#reject-reason-{waiting['id']}").fill("Gebied te groot, eerst de buurt.")
        await page.locator(f"#reject-confirm-{waiting['id']}").click()
        await page.locator(f"#queue-{waiting['id']}").wait_for(state="detached")
        await page.locator("#queue-badge:text-is('1')").wait_for()

        # an exercise: the band while composing, on the watch view and a label in the list
        await page.locator("#new-alert").click()
        band = page.locator("#exercise-band")
        assert await band.is_hidden()
        await page.locator("#am-exercise").check()
        await band.wait_for(state="visible")
        assert "OEFENING — dit is geen echte actie" in await band.inner_text()
        await page.locator("#title").fill("Oefening inbraak")
        await page.locator("#message").fill("Man met rugzak bij de school.")
        await page.locator("#c-lat").fill(f"{centre['lat']:.6f}")
        await page.locator("#c-lon").fill(f"{centre['lon']:.6f}")
        await page.locator("#c-radius").fill("300")
        await page.locator("#to-preview").click()
        await page.locator("#pv-total:has-text('1')").wait_for()  # only the exercise participant
        await b.shot("approval-03-exercise")
        await page.locator("#confirm").check()
        await page.locator("#send").click()
        await page.locator("#watch").wait_for(state="visible")
        await band.wait_for(state="visible")
        exercise_id = int(await page.evaluate("sessionStorage.getItem('burgerwacht.watching')"))
        await page.locator(".alert-item.current .ex-label:text-is('OEFENING')").wait_for()
        # back to a live alert: the band goes
        await page.locator(".alert-item", has_text="Vermist meisje (8)").click()
        await band.wait_for(state="hidden")
        assert "Gebied te groot, eerst de buurt." in await page.locator("#end-result").inner_text()
        b.problems = [p for p in b.problems if "status of 403" not in p]  # the refused approval
        b.check()

    rejected = await (await client.get(f"/api/v1/alerts/{waiting['id']}", headers=author)).json()
    assert (
        rejected["status"] == "draft"
        and rejected["rejection"]["reason"] == "Gebied te groot, eerst de buurt."
    )
    still = await (await client.get(f"/api/v1/alerts/{theirs['id']}", headers=author)).json()
    assert still["status"] == "awaiting_approval"
    exercise = await settled(client, colleague, exercise_id)
    assert exercise["mode"] == "exercise"
    sent = await sandbox.outbound()
    assert len(sent) == 1 and sent[0]["body"].startswith("OEFENING"), sent
