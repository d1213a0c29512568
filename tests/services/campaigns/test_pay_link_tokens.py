"""The debtor's link tokens: short, signed, refused when altered or made up."""

from __future__ import annotations

import uuid

from services.campaigns.domain.pay_links import link_id_of, token_of

KEY = b"k" * 32


def test_a_token_names_its_link_and_is_short_enough_for_an_sms():
    link = uuid.uuid4()
    token = token_of(KEY, link)
    assert link_id_of(KEY, token) == link
    assert len(token) == 22 + 1 + 16 and token.isascii() and "=" not in token


def test_an_altered_made_up_or_foreign_token_names_nothing():
    token = token_of(KEY, uuid.uuid4())
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    for refused in (flipped, token[:-1], token + "x", "nonsense", "a.b.c", "", "é.é",
                    token.replace(".", ""), "x" * 100):  # fmt: skip
        assert link_id_of(KEY, refused) is None, refused
    assert link_id_of(b"another key".ljust(32, b"-"), token) is None


def test_another_spelling_of_the_same_bytes_is_refused():
    link = uuid.uuid4()
    token = token_of(KEY, link)
    raw_id, signature = token.split(".")
    # The id's last character carries 4 padding bits base64 decoding ignores.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    others = [raw_id[:-1] + c for c in alphabet if c != raw_id[-1]]
    for other in others:
        assert link_id_of(KEY, f"{other}.{signature}") is None, other
    assert link_id_of(KEY, token + "==") is None
    assert link_id_of(KEY, f"{raw_id}.{signature[:-1]}=") is None
