"""Site keys: signed, rotatable, and refused when tampered with or signed for another purpose."""
from __future__ import annotations

import pytest

from widget_server import signing

NEW, OLD = "secret-new", "secret-old"


def test_key_round_trips() -> None:
    key = signing.site_key(7, [NEW])
    assert signing.site_id_from_key(key, [NEW]) == 7


def test_first_key_signs_and_old_keys_still_verify_after_rotation() -> None:
    before = signing.site_key(7, [OLD])
    after_rotation = [NEW, OLD]
    assert signing.site_id_from_key(before, after_rotation) == 7
    assert signing.site_key(7, after_rotation) == signing.site_key(7, [NEW])
    assert signing.site_id_from_key(before, [NEW]) is None  # once OLD is retired


def edits(key: str) -> list[str]:
    payload, _, signature = key.partition(".")
    return [
        key[:-1] + ("A" if key[-1] != "A" else "B"),
        key[:-3],
        "OA." + signature,  # another site's id with this signature
        payload + "." + signature[::-1],
        key + "x",
        key.upper(),
        "",
        ".",
    ]


@pytest.mark.parametrize("index", range(8))
def test_tampered_keys_are_refused(index: int) -> None:
    tampered = edits(signing.site_key(7, [NEW]))[index]
    assert signing.site_id_from_key(tampered, [NEW]) is None


def test_signature_of_another_purpose_is_refused() -> None:
    other = signing.serializer("api-token", [NEW]).dumps(7)
    assert signing.site_id_from_key(other, [NEW]) is None


def test_only_integer_payloads_name_sites() -> None:
    for payload in ("7", True, [7], None):
        forged = signing.serializer("site-key", [NEW]).dumps(payload)
        assert signing.site_id_from_key(forged, [NEW]) is None


def test_a_re_signed_key_carries_its_version_and_version_0_is_the_bare_id() -> None:
    assert signing.site_key(7, [NEW], version=0) == signing.site_key(7, [NEW])
    assert signing.key_parts(signing.site_key(7, [NEW]), [NEW]) == (7, 0)
    key = signing.site_key(7, [NEW], version=12345)
    assert signing.key_parts(key, [NEW]) == (7, 12345)
    assert signing.site_id_from_key(key, [NEW]) == 7
    for payload in ([7, 0], [7, "1"], [7, True], [7, 1, 2]):
        forged = signing.serializer("site-key", [NEW]).dumps(payload)
        assert signing.key_parts(forged, [NEW]) is None
