"""The notification feed's read state: marking read up to a notification, the unread filter,
and what a wrong id or body gets (nothing changes)."""

from __future__ import annotations


async def _told_three_times(actors, client):
    """A customer told three times that an offer they accepted changed."""
    partner = await actors.partner()
    customer = await actors.customer("FR")
    offer = await actors.offer(partner)
    await actors.accept(customer, offer)
    for edition in range(2, 5):
        r = await client.patch(
            f"/v1/partner/offers/{offer['id']}",
            json={"title": f"Edition {edition}"},
            headers=partner["auth"],
        )
        assert r.status_code == 200, r.text
    return customer


async def _feed(client, customer, **params) -> list[dict]:
    r = await client.get("/v1/me/notifications", params=params, headers=customer["auth"])
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def _mark(client, customer, body):
    return await client.post("/v1/me/notifications/read", json=body, headers=customer["auth"])


async def test_marking_read_up_to_one_marks_it_and_every_earlier_one(actors, client):
    customer = await _told_three_times(actors, client)
    newest, middle, oldest = await _feed(client, customer)
    assert [n["read_at"] for n in (newest, middle, oldest)] == [None, None, None]
    assert len(await _feed(client, customer, state="unread")) == 3

    r = await _mark(client, customer, {"up_to": middle["id"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"marked": 2, "unread": 1}
    assert [n["id"] for n in await _feed(client, customer, state="unread")] == [newest["id"]]
    feed = await _feed(client, customer)
    assert feed[0]["read_at"] is None and feed[1]["read_at"] and feed[2]["read_at"]
    assert [n["id"] for n in await _feed(client, customer, state="read")] == [
        middle["id"],
        oldest["id"],
    ]

    again = await _mark(client, customer, {"up_to": middle["id"]})
    assert again.json() == {"marked": 0, "unread": 1}  # repeating it changes nothing
    assert (await _feed(client, customer))[1:] == feed[1:]
    assert (await _mark(client, customer, {"up_to": newest["id"]})).json() == {
        "marked": 1,
        "unread": 0,
    }
    assert await _feed(client, customer, state="unread") == []


async def test_another_customers_notification_or_a_bad_body_changes_nothing(actors, client):
    customer = await _told_three_times(actors, client)
    other = await _told_three_times(actors, client)
    [theirs, *_] = await _feed(client, other)

    r = await _mark(client, customer, {"up_to": theirs["id"]})
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "notification_not_found" and r.json()["field"] == "up_to"
    for body, code in (({"up_to": 5}, 400), ({}, 400), ({"up_to": "ntf_x", "all": True}, 400)):
        r = await _mark(client, customer, body)
        assert r.status_code == code and r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] in ("up_to", "all"), r.json()
    assert len(await _feed(client, customer, state="unread")) == 3
    assert len(await _feed(client, other, state="unread")) == 3
