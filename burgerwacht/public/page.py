"""The public page's HTML: plain, server-rendered, no script, one inline style (allowed
by its hash in the CSP), Dutch or English. Every text that comes from an operator or a
visitor goes through :func:`html.escape`; nothing personal is ever put on it (no
resident numbers, no tips, no addresses: the area is named by buurt, wijk or gemeente).
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

CSS = (
    "body{font:1rem/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1a1a1a;"
    "background:#fff}main{max-width:40rem;margin:0 auto;padding:1rem}"
    "header{background:#0b3d91;color:#fff;padding:.75rem 1rem}header p{margin:0;max-width:40rem;"
    "margin:0 auto;font-weight:600}h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0}"
    "h2{font-size:1.15rem;margin:1.5rem 0 .5rem}.msg{white-space:pre-wrap}"
    ".note{border-left:.3rem solid #0b3d91;background:#eef2fa;padding:.5rem .75rem}"
    ".ended{border-left-color:#6b4e00;background:#fff6dc}.ok{border-left-color:#1d6b2f;background:#e8f5ea}"
    ".exercise{background:#5b1f7a;color:#fff;font-weight:700;padding:.5rem .75rem;margin:.5rem 0}"
    "figure{margin:1rem 0}figure img{max-width:100%;height:auto;display:block}"
    ".err{color:#a50e0e;font-weight:600}ol{padding-left:1.25rem}li{margin:.5rem 0}"
    "time{font-weight:600}a{color:#0b3d91}label{display:block;font-weight:600;margin-top:.75rem}"
    "textarea,input{font:inherit;width:100%;box-sizing:border-box;padding:.5rem;border:2px solid #555;"
    "border-radius:.25rem}textarea:focus,input:focus{outline:3px solid #f2a900;outline-offset:1px}"
    "button{font:inherit;font-weight:600;margin-top:1rem;padding:.6rem 1.2rem;background:#0b3d91;"
    "color:#fff;border:0;border-radius:.25rem}.hp{position:absolute;left:-9999px;width:1px;height:1px;"
    "overflow:hidden}.small{font-size:.9rem;color:#444}nav{margin-top:2rem}"
)
CSS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CSP = "; ".join(
    [
        "default-src 'none'",
        f"style-src '{CSS_HASH}'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex",
}

MONTHS = {
    "nl": "januari februari maart april mei juni juli augustus september oktober november december".split(),
    "en": "January February March April May June July August September October November December".split(),
}

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "site": "Burgerwacht — een oproep van politie en gemeente",
        "reference": "Kenmerk",
        "exercise": "OEFENING. Dit is een oefening, geen echte actie van politie of gemeente.",
        "live": "Deze actie loopt. Heeft u iets gezien? Laat het ons weten.",
        "closed": "Deze actie is afgelopen.",
        "expired": "Deze actie is verlopen.",
        "closing": "Afloopbericht",
        "message": "Bericht",
        "updates": "Nieuwe informatie (nieuwste eerst)",
        "update_n": "Update {n}",
        "area": "Gebied",
        "times": "Tijden",
        "sent": "Verstuurd",
        "expires": "Geldig tot",
        "ended_at": "Afgelopen",
        "respond": "Heeft u informatie?",
        "emergency": "Is er direct gevaar? Bel 112.",
        "by_sms": "Stuur een sms naar {number}. Begin uw bericht met {ref}.",
        "by_call": "Bel de tiplijn: {number}.",
        "by_form": "Of gebruik het formulier hieronder.",
        "form": "Tip doorgeven",
        "text": "Wat heeft u gezien? (verplicht, hoogstens 1000 tekens)",
        "phone": "Uw telefoonnummer (niet verplicht)",
        "phone_help": "Alleen als de meldkamer u mag terugbellen. Zonder nummer is uw tip anoniem.",
        "honeypot": "Laat dit veld leeg",
        "submit": "Verstuur tip",
        "thanks": "Dank u wel. Uw tip is doorgegeven aan de meldkamer.",
        "other_lang": "English",
        "only_dutch": "",
        "circle": "Binnen {distance} rond de buurt {buurt}",
        "in_gemeente": " (gemeente {name})",
        "areas": "In: {names}",
        "region": "Een gebied in de gemeente {names}",
        "region_many": "Een gebied in de gemeenten {names}",
        "gemeente": "gemeente {name}",
        "wijk": "wijk {name}",
        "buurt": "buurt {name}",
        "and": " en ",
        "not_found_title": "Pagina niet gevonden",
        "not_found": "Deze pagina bestaat niet. Controleer de link uit uw sms.",
        "gone_title": "Actie afgelopen",
        "gone": "Deze actie is afgelopen en deze pagina is niet meer beschikbaar.",
        "tip_closed": "Deze actie is afgelopen. Tips via dit formulier zijn niet meer mogelijk.",
        "too_many_title": "Te veel tips",
        "too_many": "Er zijn te veel tips tegelijk verstuurd. Probeer het over {minutes} minuten opnieuw.",
        "bad_form_title": "Formulier niet gelezen",
        "bad_form": "Het formulier kon niet worden gelezen. Probeer het opnieuw.",
        "text_missing": "Vul in wat u heeft gezien.",
        "text_too_long": "Uw tip is te lang: hoogstens 1000 tekens.",
        "text_invalid": "Uw tip bevat tekens die niet kunnen worden verwerkt.",
        "form_errors": "Controleer het formulier:",
        "phone_invalid": "Dit telefoonnummer is ongeldig.",
        "photo": "Foto (niet verplicht)",
        "photo_help": "Een JPEG-, PNG- of WebP-foto van hoogstens 5 MB. Locatie en andere gegevens in de foto "
        "worden verwijderd.",
        "photo_too_large": "De foto is te groot: hoogstens 5 MB. Kies een kleinere foto.",
        "photo_invalid": "Deze foto kunnen we niet gebruiken. Kies een JPEG-, PNG- of WebP-foto.",
        "back": "Terug naar de actie",
    },
    "en": {
        "site": "Burgerwacht — a call for help from the police and the municipality",
        "reference": "Reference",
        "exercise": "EXERCISE. This is an exercise, not a real alert from the police or the municipality.",
        "live": "This alert is active. Have you seen anything? Let us know.",
        "closed": "This alert has ended.",
        "expired": "This alert has expired.",
        "closing": "Closing message",
        "message": "Message",
        "updates": "New information (newest first)",
        "update_n": "Update {n}",
        "area": "Area",
        "times": "Times",
        "sent": "Sent",
        "expires": "Valid until",
        "ended_at": "Ended",
        "respond": "Do you have information?",
        "emergency": "In immediate danger? Call 112.",
        "by_sms": "Send a text message to {number}. Start your message with {ref}.",
        "by_call": "Call the tip line: {number}.",
        "by_form": "Or use the form below.",
        "form": "Send a tip",
        "text": "What did you see? (required, at most 1000 characters)",
        "phone": "Your phone number (optional)",
        "phone_help": "Only if the control room may call you back. Without a number your tip is anonymous.",
        "honeypot": "Leave this field empty",
        "submit": "Send tip",
        "thanks": "Thank you. Your tip has been passed on to the control room.",
        "other_lang": "Nederlands",
        "only_dutch": "This text is only available in Dutch.",
        "circle": "Within {distance} of the {buurt} neighbourhood",
        "in_gemeente": " (municipality of {name})",
        "areas": "In: {names}",
        "region": "An area in the municipality of {names}",
        "region_many": "An area in the municipalities of {names}",
        "gemeente": "municipality of {name}",
        "wijk": "district {name}",
        "buurt": "neighbourhood {name}",
        "and": " and ",
        "not_found_title": "Page not found",
        "not_found": "This page does not exist. Check the link in your text message.",
        "gone_title": "Alert ended",
        "gone": "This alert has ended and this page is no longer available.",
        "tip_closed": "This alert has ended. Tips through this form are no longer possible.",
        "too_many_title": "Too many tips",
        "too_many": "Too many tips were sent at once. Please try again in {minutes} minutes.",
        "bad_form_title": "Form not read",
        "bad_form": "The form could not be read. Please try again.",
        "text_missing": "Please describe what you saw.",
        "text_too_long": "Your tip is too long: at most 1000 characters.",
        "text_invalid": "Your tip contains characters that cannot be processed.",
        "form_errors": "Please check the form:",
        "phone_invalid": "This phone number is not valid.",
        "photo": "Photo (optional)",
        "photo_help": "A JPEG, PNG or WebP photo of at most 5 MB. Location and other data in the photo are "
        "removed.",
        "photo_too_large": "The photo is too large: at most 5 MB. Please choose a smaller photo.",
        "photo_invalid": "We cannot use this photo. Please choose a JPEG, PNG or WebP photo.",
        "back": "Back to the alert",
    },
}


def t(lang: str, key: str, **values: str) -> str:
    """A page text, its values escaped."""
    text = TEXTS[lang][key]
    return text.format(**{k: escape(v) for k, v in values.items()}) if values else text


def when(value: datetime, lang: str) -> str:
    """A time in Europe/Amsterdam, as people write it: ``6 december 2026, 14:05``."""
    local = value.astimezone(AMSTERDAM)
    return f"{local.day} {MONTHS[lang][local.month - 1]} {local.year}, {local:%H:%M}"


def _time(value: datetime, lang: str) -> str:
    return f'<time datetime="{value.astimezone(AMSTERDAM).isoformat(timespec="minutes")}">{when(value, lang)}</time>'


@dataclass
class FormState:
    """The tip form as re-shown after a refused submission (the phone is never echoed)."""

    text: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class View:
    token: str
    lang: str
    state: str  # live | closed | expired
    reference: str
    title: str
    message: str
    dutch_only: bool
    closing_message: str | None
    updates: list[tuple[int, str, datetime]]
    area: str
    sent_at: datetime
    expires_at: datetime | None
    closed_at: datetime | None
    number: str
    thanks: bool = False
    form: FormState | None = None
    shape: dict | None = None  # the target's GeoJSON geometry (WGS84), for the sketch
    exercise: bool = False  # mode exercise: marked at the top and in the page title
    photo: dict | None = None  # the alert's photo: {width, height, alt} (served at photo.jpg)


SVG_W, SVG_H, SVG_PAD = 240, 160, 8
SVG_MAX_POINTS = 200  # per ring: enough for a shape, a few kB at most


def area_svg(geometry: dict | None, label: str) -> str:
    """A small inline SVG of the targeted shape (a Polygon or MultiPolygon in WGS84),
    fitted into its own box: whole-number coordinates relative to the shape, so no
    place on earth (let alone a home) can be read from it. Empty for other geometries."""
    if not geometry or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return ""
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    rings = [ring for polygon in polygons for ring in polygon if len(ring) >= 3]
    if not rings:
        return ""
    lons = [p[0] for ring in rings for p in ring]
    lats = [p[1] for ring in rings for p in ring]
    west, north = min(lons), max(lats)
    lat0 = math.radians((min(lats) + north) / 2)
    width = (max(lons) - west) * math.cos(lat0) or 1e-9
    height = (north - min(lats)) or 1e-9
    scale = min((SVG_W - 2 * SVG_PAD) / width, (SVG_H - 2 * SVG_PAD) / height)
    dx, dy = (SVG_W - width * scale) / 2, (SVG_H - height * scale) / 2
    paths = []
    for ring in rings:
        step = max(1, -(-len(ring) // SVG_MAX_POINTS))
        points = [
            (round(dx + (p[0] - west) * math.cos(lat0) * scale), round(dy + (north - p[1]) * scale))
            for p in ring[::step]
        ]
        paths.append("M" + "L".join(f"{x} {y}" for x, y in points) + "Z")
    return (
        f'<svg role="img" aria-labelledby="map-t" viewBox="0 0 {SVG_W} {SVG_H}" width="{SVG_W}" '
        f'height="{SVG_H}"><title id="map-t">{escape(label)}</title><path d="{"".join(paths)}" '
        'fill="#c9d6f0" stroke="#0b3d91" stroke-width="2" fill-rule="evenodd"/></svg>'
    )


def _shell(lang: str, title: str, body: str, *, switch: str | None = None) -> str:
    nav = (
        f'<nav><a href="{escape(switch)}" hreflang="{"nl" if lang == "en" else "en"}">{t(lang, "other_lang")}</a></nav>'
        if switch
        else ""
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><p>{t(lang, 'site')}</p></header><main>{body}{nav}</main></body></html>"
    )


def _query(lang: str) -> str:
    return "?lang=en" if lang == "en" else ""


def render(v: View) -> str:
    lang = v.lang
    parts = [
        f'<p class="exercise" role="note">{t(lang, "exercise")}</p>' if v.exercise else "",
        f"<h1>{escape(v.title)}</h1>",
        f'<p class="small">{t(lang, "reference")}: {escape(v.reference)}</p>',
    ]
    if v.thanks:
        parts.append(f'<p class="note ok" role="status">{t(lang, "thanks")}</p>')
    if v.state == "closed":
        parts.append(f'<section class="note ended"><h2>{t(lang, "closed")}</h2>')
        if v.closing_message:
            parts.append(
                f'<p><strong>{t(lang, "closing")}:</strong></p><p class="msg">{escape(v.closing_message)}</p>'
            )
        parts.append("</section>")
    elif v.state == "expired":
        parts.append(f'<p class="note ended">{t(lang, "expired")}</p>')
    else:
        parts.append(f'<p class="note">{t(lang, "live")} {t(lang, "emergency")}</p>')
    if v.updates:
        items = "".join(
            f"<li><strong>{t(lang, 'update_n', n=str(n))}</strong>, {_time(at, lang)}"
            f'<p class="msg">{escape(text)}</p></li>'
            for n, text, at in v.updates
        )
        note = f'<p class="small">{t(lang, "only_dutch")}</p>' if lang == "en" else ""
        parts.append(f"<section><h2>{t(lang, 'updates')}</h2>{note}<ol reversed>{items}</ol></section>")
    dutch = f'<p class="small">{t(lang, "only_dutch")}</p>' if v.dutch_only and lang == "en" else ""
    parts.append(
        f'<section><h2>{t(lang, "message")}</h2>{dutch}<p class="msg">{escape(v.message)}</p></section>'
    )
    parts.append(_photo(v))
    sketch = area_svg(v.shape, v.area)
    parts.append(f"<section><h2>{t(lang, 'area')}</h2><p>{escape(v.area)}</p>{sketch}</section>")
    times = [f"<dt>{t(lang, 'sent')}</dt><dd>{_time(v.sent_at, lang)}</dd>"]
    if v.closed_at is not None:
        times.append(f"<dt>{t(lang, 'ended_at')}</dt><dd>{_time(v.closed_at, lang)}</dd>")
    elif v.expires_at is not None:
        times.append(f"<dt>{t(lang, 'expires')}</dt><dd>{_time(v.expires_at, lang)}</dd>")
    parts.append(f"<section><h2>{t(lang, 'times')}</h2><dl>{''.join(times)}</dl></section>")
    if v.state == "live":
        parts.append(_respond(v))
    switch = f"/a/{v.token}" + ("" if lang == "en" else "?lang=en")
    title = f"{v.title} — Burgerwacht {v.reference}"
    if v.exercise:
        title = f"{'OEFENING' if lang == 'nl' else 'EXERCISE'}: {title}"
    return _shell(lang, title, "".join(parts), switch=switch)


def _photo(v: View) -> str:
    """The alert's photo with its size (no layout shift) and alt text (the title when the
    operator gave none)."""
    if not v.photo:
        return ""
    alt = v.photo.get("alt") or v.title
    return (
        f'<figure><img src="/a/{escape(v.token)}/photo.jpg" width="{int(v.photo["width"])}" '
        f'height="{int(v.photo["height"])}" alt="{escape(alt)}" decoding="async"></figure>'
    )


def _respond(v: View) -> str:
    lang, number = v.lang, v.number
    form = v.form or FormState()
    errors = form.errors
    summary = ""
    if errors:
        items = "".join(f'<li><a href="#{k}">{escape(m)}</a></li>' for k, m in errors.items())
        summary = f'<div role="alert"><p class="err">{t(lang, "form_errors")}</p><ul>{items}</ul></div>'

    def invalid(name: str) -> str:
        if name in errors:
            return f' aria-invalid="true" aria-describedby="{name}-err"'
        return ""

    def error(name: str) -> str:
        return f'<p class="err" id="{name}-err">{escape(errors[name])}</p>' if name in errors else ""

    phone_attrs = invalid("phone") or ' aria-describedby="phone-help"'
    photo_attrs = invalid("photo") or ' aria-describedby="photo-help"'
    return (
        f"<section><h2>{t(lang, 'respond')}</h2><ul>"
        f"<li>{t(lang, 'by_sms', number=number, ref=v.reference)}</li>"
        f"<li>{t(lang, 'by_call', number=number)}</li><li>{t(lang, 'by_form')}</li></ul>"
        f"<p><strong>{t(lang, 'emergency')}</strong></p>"
        f'<h2 id="tip">{t(lang, "form")}</h2>{summary}'
        f'<form method="post" action="/a/{escape(v.token)}/tip{_query(lang)}" enctype="multipart/form-data">'
        f'<label for="text">{t(lang, "text")}</label>{error("text")}'
        f'<textarea id="text" name="text" rows="5" maxlength="1000" required{invalid("text")}>'
        f"{escape(form.text)}</textarea>"
        f'<label for="phone">{t(lang, "phone")}</label>'
        f'<p class="small" id="phone-help">{t(lang, "phone_help")}</p>{error("phone")}'
        f'<input id="phone" name="phone" type="tel" autocomplete="tel" maxlength="32"{phone_attrs}>'
        f'<label for="photo">{t(lang, "photo")}</label>'
        f'<p class="small" id="photo-help">{t(lang, "photo_help")}</p>{error("photo")}'
        f'<input id="photo" name="photo" type="file" accept="image/jpeg,image/png,image/webp"'
        f"{photo_attrs}>"
        f'<div class="hp" aria-hidden="true"><label for="website">{t(lang, "honeypot")}</label>'
        '<input id="website" name="website" tabindex="-1" autocomplete="off"></div>'
        f'<button type="submit">{t(lang, "submit")}</button></form></section>'
    )


def message_page(lang: str, title_key: str, text_key: str, *, back: str | None = None, **values: str) -> str:
    """A small page for 404, 410, 429 and unreadable forms."""
    link = f'<p><a href="{escape(back)}">{t(lang, "back")}</a></p>' if back else ""
    title = t(lang, title_key)
    return _shell(
        lang, f"{title} — Burgerwacht", f"<h1>{title}</h1><p>{t(lang, text_key, **values)}</p>{link}"
    )
