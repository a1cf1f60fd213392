"""Golden vectors: exact fingerprint bits, pinned so no change of ours alters them unnoticed.

If one of these fails, fingerprints in every existing store changed: bump
SCHEME_VERSION (and the lexicon FORMAT_VERSION for file changes) and re-pin.
"""

from __future__ import annotations

import dataclasses

import pytest
import xxhash

from shingles._backend import BackendName
from shingles import Lexicon, LexiconSettings, Scheme, SchemeMismatchError, fingerprint
from shingles.scheme import DEFAULT_SEED

ORDER_MAIL = ("Dear customer, your order 12345 has shipped today. Track your parcel online "
              "at any time with the number in this message. Thank you for shopping with us; "
              "we hope to see you again soon at our store. Kind regards, the shop team.")
RUSSIAN = ("Уважаемый клиент, ваш заказ 98765 отправлен сегодня. Отследить посылку можно на "
           "сайте в любое время по номеру из этого письма. Спасибо за покупку, будем рады "
           "видеть вас снова.")

# A lexicon file as FORMAT_VERSION 1 writes it: it must keep loading in later versions.
LEXICON_V1 = bytes.fromhex(
    "53484c5801003b00746f6b656e732f31206469676974733d666f6c6420736565643d3078356565"
    "6435613165633064653230303420756e69636f64653d31342e302e300200000004000000666666"
    "666666e63fc0711e0000000000080000000000000009000000000000002dbe5a248982134f67d1"
    "95dd9d69af53bf546b5c19b64755db6f3da4ae8795925a3e4c2f52faaea2d069272bf61f55d07c"
    "7d4076172486e9b33068273b5a0ef05d8e4593f75390f001000000000000000700000000000000"
    "07000000000000000d000000000000000b000000000000000f0000000000000007000000000000"
    "0007000000000000000f000000000000004ba57275071cf04a"
)
LEXICON_DOCS = ["alpha beta gamma delta", "alpha beta epsilon zeta",
                "beta gamma eta theta", "gamma delta epsilon iota"] * 2
LEXICON_SETTINGS = LexiconSettings(min_df=2, max_df=1.0, min_terms=2, sub_lexicons=3,
                                   max_source_share=1.0)


def test_token_hash_is_xxh3_of_utf8_with_the_scheme_seed() -> None:
    # Pins the vendored xxHash against the xxhash package: both must give this.
    assert xxhash.xxh3_64_intdigest(b"order", DEFAULT_SEED) == 0x43450FE7058C6E8E


def test_default_scheme_golden_vector(backend: BackendName) -> None:
    fp = fingerprint(ORDER_MAIL, backend=backend)
    assert (fp.tokens, fp.shingles) == (42, 39)
    assert fp.minhashes[:4] == (0x2A848D69C08665D, 0x663A12C6318EAD7,
                                0x1AAD8724AFB9740, 0x1A0357214C10E29)
    assert fp.minhashes[-1] == 0x664D00CF07BE450
    assert fp.supershingles == (0x601BFF1F8FB49FFB, 0x6AD7466B302A90D2, 0x83314C7B22F6F3D6,
                                0xEF7E6E2B0966DBC8, 0x4573AE783775F63, 0x487AA2B19107303F)
    assert fp.megashingles[:3] == (0xA989A4BC8B2283E, 0x1DC7C4927C476EDB, 0x23763014FF38F1FA)
    assert fp.megashingles[-1] == 0xE70ADC78356CAAE5


def test_cyrillic_text_with_other_parameters_golden_vector(backend: BackendName) -> None:
    fp = fingerprint(RUSSIAN, Scheme(window=3, digits="keep", seed=42),
                     backend=backend)
    assert fp.tokens == 28
    assert fp.supershingles == (0x9D7D7EC6B749E760, 0x86A262B11278E97A, 0x337F29F50C90B04A,
                                0x2AD7E6DFF4FD5F9D, 0x5FE9F80FE8A8EE02, 0xD5E9B47141799049)


def test_lexicon_and_imatch_golden_vector(backend: BackendName) -> None:
    lexicon = Lexicon.build(LEXICON_DOCS, settings=LEXICON_SETTINGS)
    assert lexicon.id == "lexicon/1e41d224f696723c"  # scheme version 2's token id
    fp = fingerprint("alpha beta gamma delta epsilon", lexicon=lexicon,
                     backend=backend)
    assert fp.imatch == (0x343D732429808B, 0x17C4507DBE9BD98,
                         0x2343D732429808B, 0x3304715D0E4661E)


def test_lexicon_file_of_format_1_still_loads() -> None:
    lexicon = Lexicon.from_bytes(LEXICON_V1)
    built = Lexicon.build(LEXICON_DOCS, settings=LEXICON_SETTINGS)
    # Made with scheme version 1: the same terms, refused by a version 2 fingerprint.
    assert dataclasses.replace(lexicon, token_id=built.token_id) == built
    assert (len(lexicon), lexicon.signatures, lexicon.min_terms, lexicon.documents) == (9, 4, 2, 8)
    with pytest.raises(SchemeMismatchError, match="tokens/1 .*rebuild the lexicon"):
        fingerprint("alpha beta gamma", lexicon=lexicon)
