"""A deterministic corpus for the SensitiveDataFilter: secrets with known values, and clean text.

Every sensitive kind (vendor keys, cloud connection strings and signed URLs,
credentials in headers, URLs, command lines, .netrc, Kubernetes manifests, private
keys, passwords stated in Polish and English, generic assignments, personal data)
appears in code, a log line, English prose, Polish prose and config; values are
generated valid (checksums included) from a fixed seed. Used by tests/test_safety.py
and tests/test_safety_hardening.py (which require 100% recall and no false positive)
and by benchmarks/bench_sensitive.py (which prints the figures). The clean side of
the benchmark is real code and docs from the installed packages
(benchmarks/sensitive_eval.py), not this file's CLEAN list.
"""

from __future__ import annotations

import random
import string

_rng = random.Random(20261125)


def _rand(chars: str, n: int) -> str:
    return "".join(_rng.choice(chars) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"


def _luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(_rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = body + check
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
            for i, d in enumerate(int(c) for c in reversed(digits))
        )
        if total % 10 == 0:
            return digits
    raise AssertionError


def _iban(country: str, bban: str) -> str:
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    raw = f"{country}{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _pesel() -> str:
    yy, mm, dd = _rng.randint(50, 99), _rng.randint(1, 12), _rng.randint(1, 28)
    body = f"{yy:02d}{mm:02d}{dd:02d}{_rng.randint(0, 9999):04d}"
    w = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return body + str((10 - sum(a * int(b) for a, b in zip(w, body, strict=True)) % 10) % 10)


def _nip() -> str:
    while True:
        body = "".join(_rng.choice(string.digits) for _ in range(9))
        check = sum(a * int(b) for a, b in zip((6, 5, 7, 2, 3, 4, 5, 6, 7), body, strict=True)) % 11
        if check != 10:
            d = body + str(check)
            return f"{d[:3]}-{d[3:6]}-{d[6:8]}-{d[8:]}"


PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA"
    + _rand(B64, 60)
    + "\n"
    + _rand(B64, 64)
    + "\n-----END RSA PRIVATE KEY-----"
)

# kind -> (value, snippet in which the value appears)
KINDS: dict[str, tuple[str, str]] = {}


def _kind(name: str, value: str, snippet: str = "{v}") -> None:
    KINDS[name] = (value, snippet.replace("{v}", value))


_kind("openai_key", "sk-" + _rand(ALNUM, 48), "OPENAI_API_KEY={v}")
_kind("openai_project_key", "sk-proj-" + _rand(ALNUM + "_-", 60))
_kind("anthropic_key", "sk-ant-api03-" + _rand(ALNUM + "_-", 80))
_kind("google_api_key", "AIza" + _rand(ALNUM + "_-", 35))
_kind("github_classic", "ghp_" + _rand(ALNUM, 36))
_kind("github_fine_grained", "github_pat_" + _rand(ALNUM, 22) + "_" + _rand(ALNUM, 59))
_kind("gitlab_token", "glpat-" + _rand(ALNUM, 20))
_kind(
    "slack_token",
    "xoxb-" + _rand(string.digits, 12) + "-" + _rand(string.digits, 13) + "-" + _rand(ALNUM, 24),
)
_kind("stripe_key", "sk_live_" + _rand(ALNUM, 24))
_kind("huggingface_token", "hf_" + _rand(ALNUM, 34))
_kind("groq_key", "gsk_" + _rand(ALNUM, 52))
_kind("openrouter_key", "sk-or-v1-" + _rand("0123456789abcdef", 64))
_kind("aws_access_key_id", "AKIA" + _rand(string.ascii_uppercase + string.digits, 16))
_kind("aws_secret_access_key", _rand(B64, 40), "aws_secret_access_key = {v}")
_kind(
    "jwt",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwicm9sZSI6ImFkbWluIn0."
    + _rand(ALNUM + "_-", 43),
)
_kind("pem_private_key", PEM)
_kind("url_password", "Tr0ub4dor&3x", "postgres://billing:{v}@db.internal:5432/prod")
_kind("password_assignment", "Zaq12wsx!" + _rand(ALNUM, 4), "password: {v}")
_kind("bearer_token", _rand(ALNUM, 32), "Authorization: Bearer {v}")
_kind("email", "jan.kowalski@przyklad.pl")
_kind("phone", "+48 601 234 567")
_kind("iban", _iban("PL", "".join(_rng.choice(string.digits) for _ in range(24))))
_kind(
    "credit_card",
    " ".join(lambda d: [d[i : i + 4] for i in range(0, 16, 4)])(_luhn_complete("4", 16))
    if False
    else _luhn_complete("5", 16),
)
_kind("pesel", _pesel())
_kind("nip", _nip())

# --- kinds added with the hardening for real traffic (appended: the values above stay the same)
HEX = "0123456789abcdef"
B64URL = ALNUM + "_-"
LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits


def _b64(n: int) -> str:
    return _rand(B64, n)


def _password() -> str:
    """A password as people make them: a word-ish stem, digits, a symbol."""
    return (
        _rand(string.ascii_letters, 5).capitalize()
        + _rand(string.digits, 3)
        + _rng.choice("!#%&*?@")
        + _rand(ALNUM, 3)
    )


# e-mail, SMS and chat bots
_kind("sendgrid_key", "SG." + _rand(B64URL, 22) + "." + _rand(B64URL, 43))
_kind("mailgun_key", "key-" + _rand(HEX, 32), "MAILGUN_API_KEY={v}")
_kind(
    "mailgun_private_key",
    _rand(HEX, 32) + "-" + _rand(HEX, 8) + "-" + _rand(HEX, 8),
    "mailgun key {v}",
)
_kind("twilio_api_key", "SK" + _rand(HEX, 32), "twilio api key {v}")
_kind("twilio_account_sid", "AC" + _rand(HEX, 32), "account sid {v} (Twilio)")
_kind("twilio_auth_token", _rand(HEX, 32), "TWILIO_AUTH_TOKEN={v}")
_kind("twilio_client_token", _rand(HEX, 32), "Client('AC" + _rand(HEX, 32) + "', '{v}')")
_kind(
    "telegram_bot_token",
    str(_rng.randint(100000000, 7999999999)) + ":AA" + _rand(B64URL, 33),
    "https://api.telegram.org/bot{v}/sendMessage",
)
_kind(
    "discord_bot_token",
    "M" + _rand(ALNUM, 23) + "." + _rand(B64URL, 6) + "." + _rand(B64URL, 38),
    "client.run('{v}')",
)
_kind(
    "discord_webhook",
    str(_rng.randint(10**17, 10**18)) + "/" + _rand(B64URL, 68),
    "https://discord.com/api/webhooks/{v}",
)
_kind(
    "slack_webhook",
    "T" + _rand(UPPER_ALNUM, 10) + "/B" + _rand(UPPER_ALNUM, 10) + "/" + _rand(ALNUM, 24),
    "https://hooks.slack.com/services/{v}",
)
# package registries
_kind("npm_token", "npm_" + _rand(ALNUM, 36), "//registry.npmjs.org/:_authToken={v}")
_kind("pypi_token", "pypi-AgEIcHlwaS5vcmc" + _rand(B64URL, 140), "password = {v}")
_kind("nuget_key", "oy2" + _rand(LOWER_ALNUM, 43), "dotnet nuget push pkg.nupkg --api-key {v}")
_kind("rubygems_key", "rubygems_" + _rand(HEX, 48), "GEM_HOST_API_KEY: {v}")
_kind("dockerhub_token", "dckr_pat_" + _rand(B64URL, 27))
# vendor keys with known prefixes
_kind("shopify_token", "shpat_" + _rand(HEX, 32))
_kind("square_token", "sq0atp-" + _rand(B64URL, 22))
_kind("braintree_token", "access_token$production$" + _rand(LOWER_ALNUM, 16) + "$" + _rand(HEX, 32))
_kind("linear_key", "lin_api_" + _rand(ALNUM, 40))
_kind("notion_token", "secret_" + _rand(ALNUM, 43), "NOTION_TOKEN={v}")
_kind("notion_ntn_token", "ntn_" + _rand(ALNUM, 46))
_kind("atlassian_token", "ATATT3xFfGF0" + _rand(B64URL, 170) + "=" + _rand(HEX, 8))
_kind("okta_token", "00" + _rand(ALNUM, 40), "Authorization: SSWS {v}")
_kind("digitalocean_token", "dop_v1_" + _rand(HEX, 64))
_kind("heroku_key", "HRKU-AA" + _rand(B64URL, 58))
_kind("vault_token", "hvs." + _rand(B64URL, 90))
_kind("pulumi_token", "pul-" + _rand(HEX, 40))
_kind("doppler_token", "dp.st.prd." + _rand(ALNUM, 43))
_kind("age_secret_key", "AGE-SECRET-KEY-1" + _rand("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58))
_kind("google_oauth_secret", "GOCSPX-" + _rand(B64URL, 28))
_kind(
    "azure_client_secret",
    _rand(ALNUM, 3) + "8Q~" + _rand(ALNUM + "_-.~", 34),
    "AZURE_CLIENT_SECRET={v}",
)
_kind("stripe_webhook_secret", "whsec_" + _rand(ALNUM, 32))
_kind("replicate_token", "r8_" + _rand(ALNUM, 37))
_kind(
    "sentry_dsn",
    _rand(HEX, 32),
    "SENTRY_DSN=https://{v}@o" + str(_rng.randint(10**5, 10**6)) + ".ingest.sentry.io/4505123",
)
_kind("datadog_api_key", _rand(HEX, 32), "DD_API_KEY={v}")
_kind("paypal_client_secret", "E" + _rand(B64URL, 79), "PAYPAL_CLIENT_SECRET={v}")
_kind("aws_session_token", "FwoGZXIvYXdzE" + _rand(B64, 300), "aws_session_token = {v}")
# cloud storage
_kind(
    "azure_storage_connection",
    _b64(86) + "==",
    "DefaultEndpointsProtocol=https;AccountName=prodstore;AccountKey={v};EndpointSuffix=core.windows.net",
)
_kind(
    "azure_service_bus",
    _b64(43) + "=",
    "Endpoint=sb://orders.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={v}",
)
_kind(
    "azure_sas_url",
    _rand(ALNUM, 30) + "%2B" + _rand(ALNUM, 10) + "%3D",
    "https://prodstore.blob.core.windows.net/exports/report.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2025-01-01T00:00:00Z&spr=https&sig={v}",
)
_kind(
    "azure_sas_connection",
    "sv=2022-11-02&ss=bfqt&srt=sco&sp=rwdlacup&se=2025-06-01T00:00:00Z&sig="
    + _rand(ALNUM, 40)
    + "%3D",
    "BlobEndpoint=https://prodstore.blob.core.windows.net/;SharedAccessSignature={v}",
)
_kind(
    "aws_presigned_url",
    _rand(HEX, 64),
    "https://billing-exports.s3.amazonaws.com/2024/05/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240501T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={v}",
)
_kind(
    "gcs_signed_url",
    _rand(HEX, 256),
    "https://storage.googleapis.com/exports/report.csv?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date=20240501T120000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature={v}",
)
# credentials in headers, URLs and command lines
_BASIC_PW = _password()
_kind(
    "basic_auth_header",
    __import__("base64").b64encode(f"deploy:{_BASIC_PW}".encode()).decode(),
    "Authorization: Basic {v}",
)
_kind(
    "mongodb_url_password", _password(), "mongodb+srv://admin:{v}@cluster0.abcde.mongodb.net/shop"
)
_kind("redis_url_password", _rand(ALNUM, 24), "redis://:{v}@cache.internal:6379/0")
_kind("curl_user_password", _password(), "curl -u deploy:{v} https://api.internal/v1/items")
_kind(
    "mysql_p_flag",
    _password().replace("@", "x").replace("&", "x"),
    "mysql -u root -p{v} production < dump.sql",
)
_kind(
    "cli_password_flag", _password(), "docker login --username ci --password {v} registry.internal"
)
_kind("cli_token_flag", _rand(ALNUM, 40), "deploy-tool push --token {v} --env prod")
_kind("docker_login_p", _rand(ALNUM, 36), "docker login -u ci -p {v} registry.gitlab.com")
_kind("netrc", _password(), "machine api.internal.net\n  login deploy\n  password {v}\n")
_kind("netrc_one_line", _rand(ALNUM, 20), "machine ftp.internal.net login backup password {v}")
_K8S_VALUE = _b64(32)
_kind(
    "k8s_secret_data",
    _K8S_VALUE,
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-credentials\ntype: Opaque\ndata:\n  username: YWRtaW4=\n  password: {v}\n",
)
_kind(
    "openssh_private_key",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    + _b64(70)
    + "\n"
    + _b64(70)
    + "\n"
    + _b64(28),
    "-----BEGIN OPENSSH PRIVATE KEY-----\n{v}\n-----END OPENSSH PRIVATE KEY-----",
)
_kind(
    "truncated_private_key",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC"
    + _b64(13)
    + "\n"
    + _b64(64)
    + "\n"
    + _b64(40),
    "-----BEGIN PRIVATE KEY-----\n{v}",
)
_kind(
    "escaped_private_key",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + _b64(32) + "\\n" + _b64(64),
    '"private_key": "-----BEGIN PRIVATE KEY-----\\n{v}\\n-----END PRIVATE KEY-----\\n"',
)
_kind(
    "pgp_private_key",
    _b64(64) + "\n" + _b64(64) + "\n=" + _b64(4),
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{v}\n-----END PGP PRIVATE KEY BLOCK-----",
)
# passwords stated in Polish and English prose
_kind("password_pl_colon", _password(), "hasło: {v}")
_kind("password_pl_to", _password(), "moje hasło to {v}")
_kind("password_pl_jest", _password(), "hasłem jest {v}")
_kind("password_pl_do_bazy", _password(), "haslo do bazy: {v}")
_kind("password_pl_uzyj", _password(), "użyj hasła {v}")
_kind("password_pl_konta", _password(), "Hasło do konta admina to {v}")
_kind("password_en_is", _password(), "the password is {v}")
_kind("password_en_for", _password(), "the password for the staging db is {v}")
_kind("pwd_en", _password(), "pwd {v}")
# generic assignments decided by the key's name and the value's look
_kind("generic_api_key_env", _rand(ALNUM, 32), "PAYMENTS_API_KEY={v}")
_kind("generic_client_secret_yaml", _rand(B64URL, 40), "client_secret: {v}")
_kind("generic_token_json", _rand(ALNUM, 40), '"auth_token": "{v}"')
_kind(
    "django_secret_key",
    "django-insecure-" + _rand(ALNUM + "!@#%^&*(-_=+)", 50).replace("(", "x"),
    "SECRET_KEY = '{v}'",
)
_kind("db_password_env", _password(), "DB_PASSWORD={v}")
_kind(
    "ado_connection_string",
    _password().replace(";", "x"),
    "Server=tcp:db.internal,1433;Database=app;User Id=app;Password={v};",
)
_kind(
    "jdbc_password",
    _password().replace("&", "x"),
    "jdbc:postgresql://db.internal:5432/app?user=app&password={v}",
)
_kind("php_password", _password(), "$db_password = '{v}';")
_kind("xml_password", _password(), "<password>{v}</password>")
_kind("docker_env_password", _password(), "docker run -e POSTGRES_PASSWORD={v} postgres:16")
_kind("password_pl_dash", _password(), "hasło do poczty - {v}")
_kind("password_pl_stare", _password(), "Zapomniałem hasła, stare to {v}")
_kind("password_en_my", _password(), "my password is {v}")
_kind("api_key_prose", _rand(HEX, 32), "API key: {v}")
_kind("x_api_key_header", _rand(ALNUM, 32), "X-API-Key: {v}")
_kind("pw_assignment", _password(), 'pw = "{v}"')
_kind("sql_identified_by", _password().replace("'", "x"), "CREATE USER app IDENTIFIED BY '{v}';")
_kind(
    "postgres_role_password",
    _password().replace("'", "x"),
    "CREATE ROLE app WITH LOGIN PASSWORD '{v}';",
)
_kind("ansible_become_pass", _password(), "ansible_become_pass: {v}")
_kind(
    "docker_config_auth",
    __import__("base64").b64encode(f"ci:{_password()}".encode()).decode(),
    '{"auths": {"registry.internal": {"auth": "{v}"}}}',
)
# personal data in more shapes
_kind(
    "phone_pl_context",
    "601 " + str(_rng.randint(100, 999)) + " " + str(_rng.randint(100, 999)),
    "tel. {v}",
)
_kind(
    "phone_us_context",
    "(415) " + str(_rng.randint(200, 999)) + "-" + str(_rng.randint(1000, 9999)),
    "call me at {v}",
)
_kind(
    "phone_pl_zadzwon",
    str(_rng.randint(500, 799))
    + "-"
    + str(_rng.randint(100, 999))
    + "-"
    + str(_rng.randint(100, 999)),
    "zadzwoń pod {v}",
)
_NIP_BARE = _nip().replace("-", "")
_kind("nip_bare_context", _NIP_BARE, "NIP {v}")
_kind("nip_eu_vat", _nip().replace("-", ""), "VAT EU: PL{v}")
_kind(
    "iban_compact",
    _iban("DE", "".join(_rng.choice(string.digits) for _ in range(18))).replace(" ", ""),
)
_CARD = _luhn_complete("4", 16)
_kind("credit_card_spaced", " ".join(_CARD[i : i + 4] for i in range(0, 16, 4)))
_kind("email_plus", "anna.nowak+faktury@firma-" + _rand(string.ascii_lowercase, 6) + ".pl")

CONTEXTS = {
    "code": 'def connect():\n    cfg = "{s}"\n    return Client(cfg, retries=3)\n',
    "log": "2024-05-01T12:00:03Z ERROR auth failed for request id=8812 with {s} (retry 2/5)",
    "prose_en": "Hi team, I configured the billing service with {s} yesterday. Can you check why it still fails?",
    "prose_pl": "Cześć, skonfigurowałem usługę płatności z {s} wczoraj. Sprawdzisz, czemu dalej nie działa?",
    "config": "service:\n  name: billing\n  setting: {s}\n  replicas: 3\n",
}

SENSITIVE: list[tuple[str, str, str]] = [
    (kind, value, template.replace("{s}", snippet))
    for kind, (value, snippet) in KINDS.items()
    for template in CONTEXTS.values()
]

CLEAN: list[str] = [
    "Please reset your password: click the link in the e-mail we sent.",
    "The token limit is 4096 for this model, and 128000 for the large one.",
    "Python 3.11.7 on Debian 12, port 8080, commit 9fceb02 of 2024-05-01.",
    "The invoice total is 1234.56 PLN including 23% VAT.",
    "Order 12345678 shipped on 2024-03-14 at 10:32.",
    "Our API key rotation policy requires a new key every 90 days.",
    "Use Bearer authentication as described in RFC 6750.",
    "The secret to fast builds is caching the dependencies.",
    'password = os.environ["DB_PASSWORD"]',
    "token = get_token(client_id)",
    "api_key: ${OPENAI_API_KEY}",
    "DATABASE_URL=postgres://db.internal:5432/app",
    "Set the password in the Vault UI, never in the repository.",
    "Hasło zmieniamy co 90 dni, a token odświeża się automatycznie.",
    "Wdróż aplikację na produkcję w klastrze k8s 1.29.",
    "Faktura nr FV/2024/05/123 na kwotę 4 500,00 zł.",
    "Numer zamówienia: 2024-05-0042, termin dostawy 14 dni.",
    "UUID 123e4567-e89b-12d3-a456-426614174000 identifies the job.",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "git checkout 3f2a1bc && make release VERSION=2.4.1",
    "The server listens on 127.0.0.1:8000 and 10.0.0.12:9090.",
    "kubectl rollout undo deployment/web --to-revision=3",
    "docker run -p 5432:5432 -e POSTGRES_DB=app postgres:16",
    "Memory usage went from 512 MB to 2048 MB after the upgrade.",
    "The build took 1234 seconds; the previous one 987 seconds.",
    "Call the function with timeout=30 and retries=5.",
    "We have 3 environments: dev, staging and prod.",
    "Latency p95 is 250 ms, p99 is 1200 ms.",
    "The STM32F407 has 192 KB of RAM and 1 MB of flash.",
    "FreeRTOS task stack size: 2048 words, priority 3.",
    "Set max_tokens to 512 and temperature to 0.2.",
    "auth: required",
    "token: refresh",
    "secret: see vault",
    "password: <your password here>",
    "client_secret = settings.client_secret",
    "The credentials are stored in AWS Secrets Manager.",
    "Rotate the access key in the IAM console.",
    "Email the report to the finance team by Friday.",
    "Call me tomorrow about the phone number migration.",
    "The IBAN field must have 28 characters for Polish accounts.",
    "Card payments are processed by Stripe.",
    "PESEL i NIP podajemy tylko w formularzu, nie na czacie.",
    "The year 2024 had 366 days.",
    "Version 10.2.3.4 of the firmware fixes the bug.",
    "Coordinates 52.2297, 21.0122 are in Warsaw.",
    "ISBN 978-3-16-148410-0 is the book's number.",
    "Between 9:00 and 17:00 CET we answer tickets.",
    "SELECT id, email FROM users WHERE active = true;",
    "The regex for emails is hard to get right.",
    "JWT tokens have three parts separated by dots.",
    "A PEM file starts with a BEGIN line.",
    "Use sk- prefixed keys for OpenAI and gsk_ for Groq.",
    "ghp_ tokens are GitHub personal access tokens.",
    "The ticket number is JIRA-4521.",
    "Amounts: 1 000 000 USD, 250 000 EUR.",
    "Build #20240501 passed all 1532 tests.",
    "Our phone support works on weekdays.",
    "The cluster has 12 nodes with 64 GB each.",
    "See https://docs.example.com/guide#section-2 for details.",
    "ssh deploy@bastion.internal -p 2222",
    "git clone git@github.com:org/repo.git",
    "Timeout after 30000 ms on attempt 3 of 5.",
    "The NIP field is validated with a checksum.",
    "Kod pocztowy 00-950 Warszawa.",
    "Rozmiar obrazu: 1920x1080, 60 fps.",
    "Bitrate 128 kbps, sample rate 44100 Hz.",
    "The matrix is 1024 by 1024 floats.",
    "Exit code 137 means the container was OOM-killed.",
    "HTTP 429 means too many requests.",
    "We use semantic versioning: 1.4.0 then 1.5.0.",
    "The config key is api_key, its value comes from the environment.",
    "Nie wklejaj hasła do czatu.",
    "Ustaw zmienną środowiskową OPENAI_API_KEY przed uruchomieniem.",
    "To token z limitem 1000 żądań na minutę.",
    "The password policy: 12 characters minimum.",
    "token_count = len(tokens)",
    "secret_name = 'db-credentials'",
    "auth = HTTPBasicAuth(user, pw)",
    "password_hash = bcrypt.hashpw(password, salt)",
    "if token is None: raise AuthError()",
    "headers = {'Authorization': f'Bearer {token}'}",
    "The meeting is at 15:30 in room 204.",
    "Invoice due 2024-06-30, amount 12 300,00 PLN.",
    "Product code 5901234123457 (EAN-13).",
    "The log rotated at 00:00:01 UTC.",
    "Replica lag is 3 seconds.",
    "CPU 85%, memory 70%, disk 91%.",
    "The queue holds 5000 messages at most.",
    "Set PRELLM_LOCAL_THREADS=2 on a 2-core machine.",
    "Model qwen2.5-coder-1.5b runs at 20 tokens per second.",
    "Terraform plan: 3 to add, 1 to change, 0 to destroy.",
    "Helm chart version 0.12.3, app version 2.1.0.",
    "GET /v1/models returned 200 in 3 ms.",
    "The answer is 42.",
    "Tel. centrali: patrz strona kontaktowa.",
    "Raport kwartalny Q2 2024 gotowy.",
    "Backup o 2:00 każdej nocy, retencja 30 dni.",
    "Alert when disk usage is above 90% for 5 minutes.",
    "Weekly cost report: $1,234.56 on compute, $321.00 on storage.",
]
