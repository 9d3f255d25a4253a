"""Known answers for the checksum and the tag primitive."""
import hashlib
import hmac

from protocol import compute_tag, crc16

import pytest

pytestmark = pytest.mark.requirement("PRO-1", "SEC-3")


def test_crc_known_answer() -> None:
    assert crc16(b"123456789") == 0x29B1


def test_crc_empty_is_init_value() -> None:
    assert crc16(b"") == 0xFFFF


def test_tag_is_truncated_hmac_sha256() -> None:
    # RFC 4231 test case 2
    full = hmac.new(b"Jefe", b"what do ya want for nothing?", hashlib.sha256).hexdigest()
    assert full.startswith("5bdcc146bf60754e6a042426089575c7")
    assert compute_tag(b"Jefe", b"what do ya want for nothing?").hex() == \
        "5bdcc146bf60754e6a042426089575c7"
