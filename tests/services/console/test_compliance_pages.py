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
    searched = await console.get("/compliance", params={"q": address.split("@")[0]})
    listed = searched.text.split('id="suppressions"')[1].split("</table>")[0]
    assert address in listed and listed.count("data-recipient=") == 1
    row = checked.text.split(f'data-recipient="{address}"')[1].split("</tr>")[0]
    remove = row.split('action="')[1].split('"')[0]
    # A removal needs a reason: without one, the API's message on the entry's row.
    unsaid = await console.post(remove, data={"csrf": form_token(checked.text), "reason": " "})
    assert unsaid.status_code == 400
    refused_row = unsaid.text.split(f'data-recipient="{address}"')[1].split("</tr>")[0]
    assert 'aria-invalid="true"' in refused_row and '"reason"' in refused_row
    still = await console.get("/compliance", params={"recipient": address})
    assert f"{address} is suppressed for email" in still.text
    why = "Customer asked for email again on 4 Dec"
    removed = await console.post(remove, data={"csrf": form_token(checked.text), "reason": why})
    assert removed.status_code == 303
    again = await console.get("/compliance", params={"recipient": address})
    assert f"{address} is not suppressed" in again.text
    removal = again.text.split('id="removals"')[1].split("</tr>")[1]
    assert address in removal and why in removal and "opt_out (asked by phone)" in removal


async def test_consent_to_ai_voice_calls_is_recorded_and_withdrawn(console, client, admin_token):
    await signed_in(console, client, admin_token, "manager")
    page = await console.get("/compliance")
    number = f"+8001{uuid.uuid4().int % 10**7:07d}"
    given = await console.post(
        "/compliance/consents",
        data={"csrf": form_token(page.text), "recipient": number, "source": "web form"},
    )
    assert given.status_code == 303 and "Consent" in given.headers["location"]
    listed = await console.get("/compliance")
    assert number in listed.text.split('id="consents"')[1].split("</table>")[0]
    found = await console.get("/compliance", params={"consenting": number})
    rows = found.text.split('id="consents"')[1].split("</table>")[0]
    assert rows.count("<tr") == 2 and "web form" in rows  # the heading and the one consent
    unreadable = await console.get("/compliance", params={"consenting": "call me"})
    assert 'id="consenting-error"' in unreadable.text
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
    assert 'id="consenting"' in page.text  # consents are read by everyone
