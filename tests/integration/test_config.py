"""Settings: the signing secret comes from Secrets Manager on AWS, never the local default."""

import pytest
from moto import mock_aws

from chalicelib import config
from chalicelib.store import aws


@pytest.fixture
def clean_settings(monkeypatch):
    for name in ("SIGNING_SECRET", "SIGNING_SECRET_ARN", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config.reset()
    aws.reset()
    yield monkeypatch
    config.reset()
    aws.reset()


def test_signing_secret_is_read_from_secrets_manager_once(clean_settings):
    with mock_aws():
        arn = aws.client("secretsmanager").create_secret(Name="s", SecretString="a-very-long-secret-value")["ARN"]
        clean_settings.setenv("SIGNING_SECRET_ARN", arn)
        assert config.settings().signing_secret == "a-very-long-secret-value"


def test_a_deployed_function_refuses_the_local_secret(clean_settings):
    clean_settings.setenv("AWS_LAMBDA_FUNCTION_NAME", "loyalty-dev-api")
    with pytest.raises(config.ConfigurationError):
        config.settings()


def test_locally_the_default_secret_is_fine(clean_settings):
    assert config.settings().signing_secret == config.LOCAL_SECRET
