"""End to end over real HTTP: the client against the sandbox, the consent form driven as a browser would."""

from __future__ import annotations

import json
import stat
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from ar_helpers import MAT_MINIMAL, SAT_DATASET, SAT_MINIMAL, body, text
from conftest import APPROVER, OTHER_APPROVER, Approver, login, make_client, sandbox_config, start

from eproc.accounts_return.client import ClientError, DfeError
from eproc.accounts_return.sandbox import DEMO_CLIENT, MISSING_KEY

pytestmark = pytest.mark.e2e


def test_login_submit_read_back_replace_and_delete(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    login(client)
    token_file = client.config.token_file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    first = client.put_submission(SAT_MINIMAL.read_bytes())
    assert first["coaVersion"] == "2.0.0"
    assert first["trustData"] == {"125100": Decimal("10161663.87"), "125700": Decimal("-10161663.87")}
    assert first["submittedDate"].endswith("Z") and len(first["submissionGuid"]) == 36

    current = client.get_submission()
    assert current["submissionId"] == first["submissionGuid"]
    assert current["academyData"]["academies"] == {"100-1001": {"125100": 5098880, "125700": -5098880}}
    assert '"125100": 10161663.87' in client.get_submission_text()

    second = client.put_submission(MAT_MINIMAL.read_bytes())  # the same trust: it replaces the first
    assert second["submissionGuid"] != first["submissionGuid"]
    current = client.get_submission()
    assert current["submissionId"] == second["submissionGuid"]
    assert sorted(current["academyData"]["academies"]) == ["100-1001", "100-1002", "100-1003", "100-1004"]

    with pytest.raises(DfeError) as gone:
        client.delete_submission(first["submissionGuid"])
    assert gone.value.status == 404
    client.delete_submission(second["submissionGuid"])
    assert client.get_submission() is None


def test_numbers_are_echoed_as_written(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    login(client)
    payload = text(body()).replace("10161663.87", "10161663.8700")
    response = requests.put(f"{sandbox.url}/api/submissions", data=payload, timeout=10, headers={
        "Authorization": f"Bearer {client.access_token()}", "Ocp-Apim-Subscription-Key": DEMO_CLIENT.subscription_key,
        "Content-Type": "application/json"})
    assert response.status_code == 200
    assert '"125100": 10161663.8700' in response.text


def test_refresh_after_the_access_token_expires_and_the_old_refresh_token_is_refused(clock, tmp_path):
    for live in start(sandbox_config(access_token_lifetime=5, refresh_token_lifetime=60), clock):
        client = make_client(live, tmp_path, leeway=0)
        login(client)
        old = client.tokens.load()
        client.put_submission(SAT_MINIMAL.read_bytes())

        clock.advance(6)  # the access token has expired, the refresh token has not
        assert client.get_submission() is not None
        new = client.tokens.load()
        assert new.access_token != old.access_token and new.refresh_token != old.refresh_token

        refused = requests.post(client.config.profile.token_url, timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": old.refresh_token, "client_id": DEMO_CLIENT.client_id,
            "client_secret": DEMO_CLIENT.client_secret, "scope": client.config.profile.scope})
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

        clock.advance(6)
        assert client.get_submission() is not None  # each rotation kept: it still works
        clock.advance(61)
        with pytest.raises(ClientError, match="refresh token has expired"):
            client.get_submission()


def test_a_token_the_server_considers_expired_is_refreshed_once(clock, tmp_path):
    for live in start(sandbox_config(access_token_lifetime=5), clock):
        client = make_client(live, tmp_path, leeway=0)
        login(client)
        # The client's clock lags: it thinks the token is fresh, the sandbox answers 401, the client refreshes.
        lagging = make_client(live, tmp_path, clock=lambda: clock.now - 100)
        clock.advance(6)
        assert lagging.get_submission() is None


def test_missing_subscription_key_gives_the_dfes_401_message(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    login(client)
    response = requests.get(f"{sandbox.url}/api/submissions", timeout=10,
                            headers={"Authorization": f"Bearer {client.access_token()}"})
    assert response.status_code == 401
    assert response.json() == {"statusCode": 401, "message": MISSING_KEY}
    wrong = requests.get(f"{sandbox.url}/api/submissions", timeout=10, headers={
        "Authorization": f"Bearer {client.access_token()}", "Ocp-Apim-Subscription-Key": "not-the-key"})
    assert wrong.status_code == 401 and "invalid subscription key" in wrong.json()["message"]
    no_token = requests.get(f"{sandbox.url}/api/submissions", timeout=10,
                            headers={"Ocp-Apim-Subscription-Key": DEMO_CLIENT.subscription_key})
    assert no_token.status_code == 401


def test_another_trusts_submission_is_forbidden(sandbox, tmp_path):
    ours = make_client(sandbox, tmp_path, "ours")
    theirs = make_client(sandbox, tmp_path, "theirs", company_number="20000002")
    login(ours)
    login(theirs, OTHER_APPROVER)
    guid = theirs.put_submission(text(body(academyData={"academies": {"200-2001": {"125100": 5}}})).encode())[
        "submissionGuid"]
    assert ours.get_submission() is None  # one submission per trust: theirs is not ours
    with pytest.raises(DfeError) as forbidden:
        ours.delete_submission(guid)
    assert forbidden.value.status == 403
    assert theirs.get_submission()["submissionId"] == guid


def test_an_approver_of_another_trust_cannot_consent(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    approver = Approver(*OTHER_APPROVER)
    with pytest.raises(ClientError, match="no consent callback"):
        client.login(approver, timeout=0.5)
    assert approver.pages[-1].status_code == 401 and "Data Transfer Approver" in approver.pages[-1].text


def test_refused_consent_is_reported(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    with pytest.raises(ClientError, match="consent refused: access_denied"):
        client.login(Approver(*APPROVER, decision="refuse"), timeout=10)
    assert client.tokens.load() is None


def test_a_callback_with_another_state_is_ignored(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)

    def forged(url: str) -> None:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        requests.get(redirect, params={"code": "stolen", "state": "forged"}, timeout=10)

    with pytest.raises(ClientError, match="state does not match"):
        client.login(forged, timeout=10)


@pytest.mark.parametrize(("params", "error"), [
    ({"upin": "100001"}, "exactly one of upin or companyNumber"),  # both (the client sends companyNumber)
    ({"companyNumber": None}, "exactly one of upin or companyNumber"),  # neither
    ({"companyNumber": "1234"}, "companyNumber must be 8 digits"),
    ({"companyNumber": "99999999"}, "no trust has that"),
    ({"apiFamily": "other"}, "apiFamily must be bfrp-ar"),
    ({"response_type": "token"}, "response_type must be code"),
])
def test_authorize_parameter_errors_come_back_to_the_redirect_uri(sandbox, tmp_path, params, error):
    client = make_client(sandbox, tmp_path)
    url, state = client.authorization_url("http://127.0.0.1:9/callback")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    for key, value in params.items():
        if value is None:
            query.pop(key)
        else:
            query[key] = value
    response = requests.get(url.split("?")[0], params=query, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    back = parse_qs(urlsplit(response.headers["Location"]).query)
    assert back["error"][0] in ("invalid_request", "unsupported_response_type")
    assert error in back["error_description"][0] and back["state"] == [state]


def test_authorize_url_carries_the_dfe_parameters_and_no_secret(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    url, state = client.authorization_url()
    query = parse_qs(urlsplit(url).query)
    assert {k: v[0] for k, v in query.items() if k != "state"} == {
        "p": "B2C_1A_CONSENT_SANDBOX", "response_type": "code", "client_id": DEMO_CLIENT.client_id,
        "redirect_uri": "http://127.0.0.1:0/callback", "nonce": "defaultNonce", "prompt": "login",
        "scope": client.config.profile.scope, "companyNumber": "10000001", "apiFamily": "bfrp-ar"}
    assert query["state"] == [state] and DEMO_CLIENT.client_secret not in url


def test_unregistered_client_or_redirect_is_an_error_page(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    url, _state = client.authorization_url("https://elsewhere.example/callback")
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "redirect_uri is not registered" in response.text
    response = requests.get(url.replace(DEMO_CLIENT.client_id, "nobody"), allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "invalid_client" in response.text


def test_the_sandbox_refuses_as_the_validator_does_with_dev_details_on_request(sandbox, tmp_path):
    plain = make_client(sandbox, tmp_path, "plain")
    login(plain)
    with pytest.raises(DfeError) as refused:
        plain.put_submission(SAT_DATASET.read_bytes())
    assert (refused.value.status, refused.value.type, refused.value.details) == (400, "schemaValidation", [])
    assert "eproc ar validate" in str(refused.value)
    dev = make_client(sandbox, tmp_path, "plain", dev_details=True)
    with pytest.raises(DfeError) as detailed:
        dev.put_submission(SAT_DATASET.read_bytes())
    assert len(detailed.value.details) == 160
    assert detailed.value.details[0].startswith("Path 'academyData.academies.100-1001.110100', Line: 10, Position ")
    with pytest.raises(DfeError) as academy:
        dev.put_submission(text(body(academyData={"academies": {"999-9999": {"125100": 1}}})).encode())
    assert (academy.value.type, academy.value.details) == ("unknownAcademy", ["999-9999"])
    with pytest.raises(DfeError) as missing:
        dev.put_submission(b"")
    assert missing.value.type == "requestBodyMissing"


def test_a_closed_trust_takes_no_new_submission(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path, company_number="30000003")
    login(client, ("approver@closed-trust.example", "closed-approver-password"))
    with pytest.raises(DfeError) as closed:
        client.put_submission(text(body(academyData={"academies": {"300-3001": {"125100": 5}}})).encode())
    assert closed.value.type == "newFmsSubmissionsClosed"


def test_503_is_retried_with_backoff(sandbox, tmp_path):
    slept: list[float] = []
    client = make_client(sandbox, tmp_path, sleep=slept.append)
    login(client)
    sandbox.app.fail_next(2)
    assert client.get_submission() is None
    assert slept == [1.0, 1.0]  # the sandbox's Retry-After
    sandbox.app.fail_next(10)
    with pytest.raises(DfeError) as unavailable:
        client.get_submission()
    assert unavailable.value.status == 503 and "try again later" in str(unavailable.value)
    assert len(slept) == 2 + 4


def test_delete_of_a_malformed_guid_is_a_400(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path, dev_details=True)
    login(client)
    with pytest.raises(DfeError) as bad:
        client.delete_submission("not-a-guid")
    assert bad.value.status == 400 and bad.value.type == "unknownException"


def test_tokens_never_reach_the_token_files_neighbours(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    login(client)
    saved = json.loads(client.config.token_file.read_text())
    assert set(saved) == {"access_token", "refresh_token", "expires_at", "refresh_expires_at", "scope"}
    assert saved["access_token"] not in repr(client.tokens.load()) and DEMO_CLIENT.client_secret not in repr(
        client.config)
    assert stat.S_IMODE(client.config.token_file.parent.stat().st_mode) == 0o700


def _code_by_hand(sandbox, client) -> tuple[str, str]:
    """Consent in a browser that does not follow the redirect: the code, and the redirect URI it was issued for."""
    redirect = "http://127.0.0.1:9/callback"
    url, _state = client.authorization_url(redirect)
    with requests.Session() as browser:
        page = browser.get(url, timeout=10)
        form_id = page.text.split("name='form_id' value='")[1].split("'")[0]
        answer = browser.post(f"{sandbox.url}/oauth2/v2.0/authorize", allow_redirects=False, timeout=10, data={
            "form_id": form_id, "username": APPROVER[0], "password": APPROVER[1], "decision": "consent"})
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0], redirect


def test_an_authorization_code_is_single_use_and_lasts_ten_minutes(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    code, redirect = _code_by_hand(sandbox, client)
    client.exchange(code, redirect)
    with pytest.raises(ClientError, match="invalid_grant: the authorization code is unknown, used or expired"):
        client.exchange(code, redirect)
    late, redirect = _code_by_hand(sandbox, client)
    sandbox.clock.advance(601)
    with pytest.raises(ClientError, match="invalid_grant"):
        client.exchange(late, redirect)


def test_the_token_endpoint_wants_the_clients_secret(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    code, redirect = _code_by_hand(sandbox, client)
    response = requests.post(client.config.profile.token_url, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "client_id": DEMO_CLIENT.client_id,
        "client_secret": "guess", "redirect_uri": redirect})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
