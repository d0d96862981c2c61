import pytest

from atlas.models import ApiKey

pytestmark = pytest.mark.browser


def test_staff_create_a_key_see_the_secret_once_and_revoke_it(logged_in, live_server):
    page, tenant = logged_in
    page.click("text=API keys")
    page.fill("input[name=name]", "warehouse sync")
    page.click("button:has-text('Create key')")
    secret = page.inner_text("[data-testid=new-secret]").strip()
    key = ApiKey.objects.get(merchant=tenant.merchant, name="warehouse sync")
    assert key.hashed_key == ApiKey.hash(secret)

    page.goto(f"{live_server.url}/settings/api-keys/")
    assert secret not in page.content()
    row = page.locator("tr", has_text="warehouse sync")
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_selector("text=revoked")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "revoked" in page.locator("tr", has_text="warehouse sync").inner_text()
