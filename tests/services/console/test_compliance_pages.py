"""The console's compliance screen: the suppression list searched, added to and removed from,
and consent to AI-voice calls recorded and withdrawn; viewers only read."""

from __future__ import annotations

import uuid

from tests.console_helpers import form_token, signed_in


async def test_a_manager_suppresses_checks_and_removes_a_recipient(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    page = await console.get("/compliance")
    address = f"stop-{uuid.uuid4().hex[:8]}@example.com"
    refused = await console.post(
        "/compliance/suppressions",
        data={"csrf": form_token(page.text), "channel": "email", "recipient": "x",
              "reason": "opt_out"},
    )  # fmt: skip
    assert refused.status_code == 400 and 'id="suppress-recipient-error"' in refused.text
    added = await console.post(
        "/compliance/suppressions",
        data={"csrf": form_token(page.text), "channel": "email", "recipient": address,
              "reason": "opt_out", "note": "asked by phone"},
    )  # fmt: skip
    assert added.status_code == 303
    checked = await console.get("/compliance", params={"recipient": address})
    assert f"{address} is suppressed for email" in checked.text
    row = checked.text.split(f'data-recipient="{address}"')[1].split("</tr>")[0]
    remove = row.split('action="')[1].split('"')[0]
    assert (await console.post(remove, data={"csrf": form_token(checked.text)})).status_code == 303
    again = await console.get("/compliance", params={"recipient": address})
    assert f"{address} is not suppressed" in again.text


async def test_consent_to_ai_voice_calls_is_recorded_and_withdrawn(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    page = await console.get("/compliance")
    number = f"+8001{uuid.uuid4().int % 10**7:07d}"
    given = await console.post(
        "/compliance/consents",
        data={"csrf": form_token(page.text), "recipient": number, "source": "web form"},
    )
    assert given.status_code == 303 and "Consent" in given.headers["location"]
    withdrawn = await console.post(
        "/compliance/consents/withdraw", data={"csrf": form_token(page.text), "recipient": number}
    )
    assert withdrawn.status_code == 303
    twice = await console.post(
        "/compliance/consents/withdraw", data={"csrf": form_token(page.text), "recipient": number}
    )
    assert twice.status_code == 404  # the API's own answer, shown as a page


async def test_a_viewer_reads_the_list_and_changes_nothing(console, client, admin_token):
    await signed_in(console, client, admin_token, "viewer")
    page = await console.get("/compliance")
    assert page.status_code == 200 and 'id="suppressions"' in page.text
    assert 'action="/compliance/suppressions"' not in page.text and ">Remove<" not in page.text
