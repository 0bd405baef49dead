"""Assistants, attaching MCPs, the assistant's function list (namespaced only on collisions),
prompt references that no MCP offers, and channels."""

from __future__ import annotations

from plati.cli.demo import GUIDE_PROMPT

from .conftest import Platform


def test_assistant_crud_attach_and_function_listing(platform: Platform, shop: str, guide_flask: str) -> None:
    with platform.client() as http:
        created = http.post("/assistant", json={"name": "Support", "instructions": GUIDE_PROMPT, "provider": "offline"})
        assert created.status_code == 201, created.text
        assistant = created.json()["data"]
        assert assistant["provider"] == "OFFLINE"
        assert assistant["unresolved_functions"] == [
            "check_order_status",
            "process_return",
            "apply_discount",
            "get_customer_profile",
        ]
        shop_id = http.post("/workspace/mcps", json={"name": "Shop", "url": shop}).json()["data"]["id"]
        attached = http.put(f"/assistant/{assistant['id']}/mcp/{shop_id}")
        assert attached.status_code == 200
        assert attached.json()["data"]["mcp_ids"] == [shop_id]
        assert attached.json()["data"]["unresolved_functions"] == ["get_customer_profile"]
        assert http.put(f"/assistant/{assistant['id']}/mcp/{shop_id}").json()["data"]["mcp_ids"] == [shop_id]

        tools = http.get(f"/assistant/{assistant['id']}/mcp/tools").json()["data"]
        assert {tool["name"] for tool in tools} == {
            "check_order_status",
            "process_return",
            "apply_discount",
            "get_product_recommendations",
        }
        assert all(tool["mcp_id"] == shop_id and tool["function"] == tool["name"] for tool in tools)

        # A second MCP offering the same names: only the colliding names get namespaced.
        flask_id = http.post("/workspace/mcps", json={"name": "Legacy Shop", "url": guide_flask}).json()["data"]["id"]
        http.put(f"/assistant/{assistant['id']}/mcp/{flask_id}")
        names = {
            (tool["name"], tool["mcp_id"])
            for tool in http.get(f"/assistant/{assistant['id']}/mcp/tools").json()["data"]
        }
        assert ("shop__check_order_status", shop_id) in names
        assert ("legacy_shop__check_order_status", flask_id) in names
        both = http.get(f"/assistant/{assistant['id']}").json()["data"]
        assert "check_order_status" not in both["unresolved_functions"]  # both offer it: ambiguous
        assert {
            "name": "check_order_status",
            "model_names": ["shop__check_order_status", "legacy_shop__check_order_status"],
        } in both["ambiguous_functions"]

        detached = http.delete(f"/assistant/{assistant['id']}/mcp/{flask_id}")
        assert detached.json()["data"]["mcp_ids"] == [shop_id]
        assert http.delete(f"/assistant/{assistant['id']}/mcp/{flask_id}").status_code == 404

        patched = http.patch(f"/assistant/{assistant['id']}", json={"instructions": "Call {{function.chek_order}}"})
        assert patched.json()["data"]["unresolved_functions"] == ["chek_order"]
        assert [a["id"] for a in http.get("/assistants").json()["data"]] == [assistant["id"]]
        assert http.delete(f"/assistant/{assistant['id']}").status_code == 200
        assert http.get(f"/assistant/{assistant['id']}").status_code == 404


def test_deleting_an_mcp_detaches_it(platform: Platform, shop: str) -> None:
    with platform.client() as http:
        assistant_id = http.post("/assistant", json={"name": "A"}).json()["data"]["id"]
        mcp_id = http.post("/workspace/mcps", json={"name": "Shop", "url": shop}).json()["data"]["id"]
        http.put(f"/assistant/{assistant_id}/mcp/{mcp_id}")
        http.delete(f"/workspace/mcps/{mcp_id}")
        assert http.get(f"/assistant/{assistant_id}").json()["data"]["mcp_ids"] == []
        assert http.get(f"/assistant/{assistant_id}/mcp/tools").json()["data"] == []


def test_assistant_validation(platform: Platform) -> None:
    with platform.client() as http:
        bad_provider = http.post("/assistant", json={"name": "A", "provider": "GEMINI"})
        no_name = http.post("/assistant", json={"instructions": "hi"})
        missing_mcp = http.put(
            f"/assistant/{http.post('/assistant', json={'name': 'B'}).json()['data']['id']}/mcp/mcp_x"
        )
    assert bad_provider.status_code == 422
    assert no_name.status_code == 422
    assert {d["field"] for d in no_name.json()["error"]["details"]} == {"name"}
    assert missing_mcp.status_code == 404


def test_channels_crud(platform: Platform) -> None:
    with platform.client() as http:
        assistant_id = http.post("/assistant", json={"name": "A"}).json()["data"]["id"]
        created = http.post("/channels", json={"name": "web", "assistant_id": assistant_id})
        assert created.status_code == 201
        channel = created.json()["data"]
        assert (channel["type"], channel["active"], channel["assistant_id"]) == ("api", True, assistant_id)
        updated = http.put(f"/channels/{channel['id']}", json={"active": False, "name": "web-2"}).json()["data"]
        assert (updated["active"], updated["name"], updated["assistant_id"]) == (False, "web-2", assistant_id)
        assert http.post("/channels", json={"name": "x", "assistant_id": "asst_missing"}).status_code == 404
        assert http.post("/channels", json={"name": "x", "type": "whatsapp"}).status_code == 422
        http.delete(f"/assistant/{assistant_id}")
        assert http.get(f"/channels/{channel['id']}").json()["data"]["assistant_id"] is None
        assert len(http.get("/channels").json()["data"]) == 1
        assert http.delete(f"/channels/{channel['id']}").status_code == 200
        assert http.get(f"/channels/{channel['id']}").status_code == 404
