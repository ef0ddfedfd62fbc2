"""The sensitive-data filter's context rules: what each extractor redacts and what it leaves.

Every case asserts the whole redacted text: the placeholder where a secret was (and
the secret gone), or the text unchanged where the candidate is not a secret.
"""

from __future__ import annotations

import pytest

from prellm.safety import SensitiveDataFilter
from prellm.safety.heuristics import entropy, is_path_or_url, is_wordish, looks_secret


def _redact(text: str) -> tuple[str, SensitiveDataFilter]:
    f = SensitiveDataFilter()
    return f.redact(text), f


@pytest.mark.parametrize(
    ("text", "expected", "secret"),
    [
        # a key named "<prefix>_key" with more after it is a secret's name
        ("openai_key_v2 = Zq8xW2mK9pL4vR7tAb", "openai_key_v2 = [SECRET_1]", "Zq8xW2mK9pL4vR7tAb"),
        ("db_key_prod = Zq8xW2mK9pL4vR7tAb", "db_key_prod = [SECRET_1]", "Zq8xW2mK9pL4vR7tAb"),
        # a stated password with a digit after a bare "pwd"
        ("pwd Secret9word", "pwd [SECRET_1]", "Secret9word"),
        # command-line flags and user:password pairs
        ("--password hunter2x", "--password [SECRET_1]", "hunter2x"),
        ("curl -u admin:s3cr3tPw1 http://x", "curl -u admin:[SECRET_1] http://x", "s3cr3tPw1"),
        ("mysql -uroot -pS3cretPw1", "mysql -uroot -p[SECRET_1]", "S3cretPw1"),
        # a URL's password, a plain word after a scheme that carries credentials
        ("postgres://u:hunter@db", "postgres://u:[SECRET_1]@db", "hunter"),
        ("smb://user:Pa55word@host.pl", "smb://user:[SECRET_1]@host.pl", "Pa55word"),
        # phone and NIP numbers after their keyword
        ("tel. 601234567", "tel. [PHONE_1]", "601234567"),
        ("vat 1234563218", "vat [NIP_1]", "1234563218"),
    ],
)
def test_context_rules_redact_the_value_and_restore_it(text, expected, secret):
    out, f = _redact(text)
    assert out == expected
    assert secret not in out
    assert f.restore(out) == text


@pytest.mark.parametrize(
    "text",
    [
        ":param token: Zq8xW2mK9pL4vR7tAb",  # a docstring documents a parameter
        "pwd Sec!ret#Word",  # "pwd X" needs a digit in X
        "--password PASSWORD",  # a metavar
        "--token secret-word",  # words joined by a dash
        "--api-key abc",  # too short for a secret
        "docker run -u 1000:1000 img",  # a uid:gid
        "mysql -u root -p 5432:5432",  # a port mapping
        "docker login -u me -p 2222",  # a port
        "git clone github://org:repo@sha",  # a plain word after a scheme without credentials
        "postgres://admin:admin@db",  # user:user is a default
        "postgres://u:a,b,c9x@db",  # a list, not a password
        "postgres://u:a%20secret9@db",  # a phrase in an example
        "postgres://u:<password>@db",  # a placeholder
        "hotel 601234567",  # "tel" inside a word
        "tel. 1234567",  # too short for a phone number
        "tel 10.0.0.1",  # an IP address
        "xnip 1234563218",  # "nip" inside a word
    ],
)
def test_context_rules_leave_non_secrets_alone(text):
    out, f = _redact(text)
    assert out == text
    assert f.report == {}


def test_email_rule_leaves_a_urls_credentials_to_the_url_rule():
    out, f = _redact("smb://user:Pa55word@host.pl")
    assert f.report == {"url_password": 1}  # not also an e-mail address "Pa55word@host.pl"
    assert "Pa55word" not in out


_SECRET_MANIFEST = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  username: "admin9"
  password: 'Zaq12wsx!'{trailing}
  token: <your-token>
"""


def test_k8s_string_data_values_are_redacted_quoted_or_not_but_not_placeholders():
    text = _SECRET_MANIFEST.format(trailing="   ")
    out, f = _redact(text)
    assert out == _SECRET_MANIFEST.format(trailing="   ").replace("admin9", "[SECRET_1]").replace(
        "Zaq12wsx!", "[SECRET_2]"
    )
    assert "<your-token>" in out  # a placeholder stays
    assert f.restore(out) == text


def test_k8s_secret_kind_may_be_indented_in_a_list():
    text = "items:\n  - apiVersion: v1\n    kind: Secret\n    stringData:\n      user: admin9\n"
    out, _ = _redact(text)
    assert out == text.replace("admin9", "[SECRET_1]")


def test_k8s_string_data_outside_a_secret_document_is_left_alone():
    # "kind: Secret" not at the start of its line does not make the document a Secret
    text = "note: 1 --- kind: Secret\nstringData:\n  user: admin9\n"
    out, f = _redact(text)
    assert out == text and f.report == {}


# --- the value heuristics -------------------------------------------------------------


def test_entropy_of_nothing_is_zero():
    assert entropy("") == 0.0
    assert entropy("ab") == 1.0


@pytest.mark.parametrize(
    ("value", "strong", "expected"),
    [
        ("Basic%20dXNlcjpwYXNz", True, False),  # URL-escaped "Basic ...": a phrase
        ("jan.kowalski@firma.pl", True, False),  # an e-mail address
        ("12345.678", True, False),  # a version-like number
        ("1234567890123", True, False),  # a plain number
        ("3141592653589793238462643383279502884197", True, True),  # 40 digits: a PIN-like secret
        ("3141592653589793238462643383279502884197", False, False),  # only when the key says so
        ("ab12ab12ab", False, False),  # short, low entropy, and the key is only "token"
        ("ab12ab12ab", True, True),
        ("xQzK,pWmR", True, True),  # mixed case, not words
        ("xqzk,pwmr", True, False),  # one case, no digits or symbols
        ("xQzKpWmRtV", True, False),  # letters only, short: could be a word
        ("C:\\Users\\jan", True, False),  # a Windows path
        ("\\\\server\\share", True, False),  # a UNC path
        ("Supercalifragilisticexpialidocious", True, True),  # a run too long for a word
    ],
)
def test_looks_secret_by_shape(value, strong, expected):
    assert looks_secret(value, strong=strong) is expected


def test_wordish_camel_case_names_and_overlong_runs():
    assert is_wordish("connectionPoolManagerFactory")
    assert not is_wordish("Supercalifragilisticexpialidocious")


@pytest.mark.parametrize("value", ["C:\\tmp\\x", "D:/data", "../up", "https://a.b/c"])
def test_paths_and_urls_are_recognised(value):
    assert is_path_or_url(value)
