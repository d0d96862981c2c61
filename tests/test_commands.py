from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from atlas.models import ApiKey, Membership, Merchant

pytestmark = pytest.mark.django_db


def test_create_merchant_prints_a_working_api_key_on_the_last_line():
    out = StringIO()
    call_command(
        "create_merchant", "Initech", "--email", "bill@initech.test", "--password", "tps-reports-1", stdout=out
    )
    secret = out.getvalue().strip().splitlines()[-1]
    merchant = Merchant.objects.get(name="Initech")
    membership = Membership.objects.get(merchant=merchant)
    assert membership.role == "admin"
    assert membership.user.check_password("tps-reports-1")
    assert ApiKey.objects.get(merchant=merchant).hashed_key == ApiKey.hash(secret)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/merchant").json()["name"] == "Initech"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--password", "long-enough"], "--email"),
        (["--email", "a@b.test", "--password", "short"], "--password"),
        (["--email", "a@b.test", "--password", "long-enough", "--billing-day", "31"], "billing_day"),
    ],
)
def test_create_merchant_rejects_bad_input_and_writes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_merchant", "Bad", *args, stdout=StringIO())
    assert not Merchant.objects.exists()
