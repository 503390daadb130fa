"""The client's profiles, configuration and token file, without a network."""

from __future__ import annotations

import os

import pytest

from eproc.accounts_return.client import (
    ClientError,
    ConfigError,
    Tokens,
    TokenStore,
    load_config,
    parse_callback,
    profiles,
)

BASE = {"EPROC_AR_CLIENT_ID": "id", "EPROC_AR_CLIENT_SECRET": "secret", "EPROC_AR_SUBSCRIPTION_KEY": "key",
        "EPROC_AR_REDIRECT_URI": "https://fms.example/cb", "EPROC_AR_COMPANY_NUMBER": "12345678"}


def test_the_published_environments_are_profiles():
    found = profiles()
    assert found["ste"].authorize_url == ("https://fauapib2c.b2clogin.com/fauapib2c.onmicrosoft.com/oauth2/v2.0/"
                                          "authorize?p=B2C_1A_CONSENT_DFE_STE")
    assert found["ste"].api_base == "https://api.education.gov.uk/fms-ste/1/api"
    assert found["production"].token_url.endswith("/oauth2/v2.0/token?p=B2C_1A_CONSENT_DFE")
    assert found["production"].api_base == "https://api.education.gov.uk/fms/1/api"
    assert found["supplier-test"].token_url == ("https://dfeb2cprod.b2clogin.com/dfeb2cprod.onmicrosoft.com/oauth2/"
                                                "v2.0/token?p=B2C_1A_consent_dfe_ste")
    assert found["uat"].api_base == ("https://oat-api-customerengagement.platform.education.gov.uk/fmsuat/api")
    assert found["uat"].scope == "openid offline_access https://dfeb2cprod.onmicrosoft.com/bfrp-ar/api.submit"
    assert (found["ste"].api_family_param, found["uat"].api_family_param) == ("apiFamily", "apifamily")
    assert profiles("http://127.0.0.1:9999/")["sandbox"].api_base == "http://127.0.0.1:9999/api"


def test_configuration_from_the_environment(tmp_path):
    config = load_config(tmp_path / "none.toml", environ={**BASE, "EPROC_AR_PROFILE": "ste",
                                                          "EPROC_AR_DEV_DETAILS": "yes"})
    assert config.profile.name == "ste" and config.identifier == ("companyNumber", "12345678")
    assert config.dev_details and config.token_file.name == "ste.json"
    assert "secret" not in repr(config) and "key'" not in repr(config)


@pytest.mark.parametrize(("change", "message"), [
    ({"EPROC_AR_UPIN": "123456"}, "exactly one of upin"),
    ({"EPROC_AR_COMPANY_NUMBER": ""}, "exactly one of upin"),
    ({"EPROC_AR_COMPANY_NUMBER": "SC123456"}, "is not 8 digits"),
    ({"EPROC_AR_COMPANY_NUMBER": "", "EPROC_AR_UPIN": "12345"}, "is not 6 digits"),
    ({"EPROC_AR_REDIRECT_URI": "http://fms.example/cb"}, "plain http is for loopback addresses only"),
    ({"EPROC_AR_REDIRECT_URI": "fms.example/cb"}, "is not an http(s) address"),
    ({"EPROC_AR_CLIENT_SECRET": ""}, "client_secret is not configured for profile sandbox: set EPROC_AR_CLIENT_SECRET"),
    ({"EPROC_AR_PROFILE": "prod"}, "unknown profile 'prod'"),
])
def test_configuration_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(tmp_path / "none.toml", environ={**BASE, **change})


def test_the_token_file_is_private_and_refused_if_others_can_read_it(tmp_path):
    store = TokenStore(tmp_path / "tokens" / "t.json")
    store.save(Tokens("access", "refresh", 100.0, 200.0, "openid"))
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    assert store.load().refresh_token == "refresh"
    os.chmod(store.path, 0o644)
    with pytest.raises(ClientError, match="readable by others"):
        store.load()
    store.path.write_text("{")
    os.chmod(store.path, 0o600)
    with pytest.raises(ClientError, match="cannot read the token file"):
        store.load()


def test_parse_the_pasted_callback():
    assert parse_callback(" https://fms.example/cb?code=abc&state=xyz \n").code == "abc"
    assert parse_callback("?code=abc&state=xyz").state == "xyz"
    refused = parse_callback("https://fms.example/cb?error=access_denied&error_description=no")
    assert (refused.code, refused.error, refused.error_description) == (None, "access_denied", "no")
