from __future__ import annotations

import pytest

from berth.network import nftplan
from berth.network.nftplan import NetRule, PortRule

NETS = [NetRule("berth0", "172.17.0.0/16"), NetRule("br-int", "10.9.0.0/24", internal=True)]
PORTS = [
    PortRule("tcp", "", 8080, "172.17.0.2", 80),
    PortRule("udp", "127.0.0.1", 5353, "172.17.0.3", 53),
]


def test_ruleset_replaces_the_table_atomically() -> None:
    text = nftplan.ruleset("berth", NETS, PORTS)
    lines = text.splitlines()
    assert lines[:3] == ["table ip berth {}", "delete table ip berth", "table ip berth {"]
    assert 'elements = { "berth0", "br-int" }' in text
    assert "elements = { 172.17.0.0/16 }" in text  # internal subnets are not masqueraded
    assert "elements = { tcp . 8080 : 172.17.0.2 . 80 }" in text
    assert "elements = { 127.0.0.1 . udp . 5353 : 172.17.0.3 . 53 }" in text
    assert "ip saddr 127.0.0.0/8 oifname @bridges masquerade" in text
    assert "ct status dnat ip saddr @masq_subnets oifname @bridges masquerade" in text
    assert "ip saddr @masq_subnets oifname != @bridges masquerade" in text
    assert 'iifname "br-int" oifname != "br-int" drop' in text
    assert 'oifname "br-int" iifname != "br-int" drop' in text
    assert 'iifname "berth0" oifname @bridges oifname != "berth0" drop' in text
    forward = text[text.index("chain forward") :]
    assert forward.index("ct state established,related accept") < forward.index("br-int")
    assert forward.index("br-int") < forward.index("ct status dnat accept")
    for hook in ("prerouting", "output"):
        chain = text[text.index(f"chain {hook}") :].split("}", 1)[0]
        assert chain.count("fib daddr type local jump published") == 1
    published = text[text.index("chain published") :].split("}", 1)[0]
    assert "dnat ip to ip daddr . meta l4proto . th dport map @pub_addr" in published
    assert "dnat ip to meta l4proto . th dport map @pub_any" in published
    assert forward.index("ct status dnat accept") < forward.index('iifname "berth0"')
    assert text.count("{") == text.count("}")


def test_empty_sets_have_no_elements_line() -> None:
    text = nftplan.ruleset("t", [], [])
    assert "elements" not in text


def test_element_scripts() -> None:
    assert nftplan.add_ports("berth", PORTS) == (
        "add element ip berth pub_any { tcp . 8080 : 172.17.0.2 . 80 }\n"
        "add element ip berth pub_addr { 127.0.0.1 . udp . 5353 : 172.17.0.3 . 53 }\n"
    )
    assert nftplan.delete_ports("berth", PORTS) == (
        "delete element ip berth pub_any { tcp . 8080 }\n"
        "delete element ip berth pub_addr { 127.0.0.1 . udp . 5353 }\n"
    )
    assert nftplan.delete_ports("berth", []) == ""
    assert nftplan.delete_table("x") == "table ip x {}\ndelete table ip x\n"


def test_interface_names_are_checked() -> None:
    with pytest.raises(ValueError):
        nftplan.ruleset("t", [NetRule('bad"name', "10.0.0.0/8")], [])
