from __future__ import annotations

import pytest

from mesh.core.address import check_parameter_value, parse_template
from mesh.core.errors import InvalidParameter


def test_literal_address_matches_only_itself() -> None:
    template = parse_template("orders.placed")
    assert template.is_literal
    assert template.match("orders.placed") == {}
    assert template.match("orders.placedX") is None


def test_parameters_match_and_render() -> None:
    template = parse_template("sensors.{sensorId}.readings.{unit}")
    assert template.parameters == ("sensorId", "unit")
    values = template.match("sensors.s-1.readings.lux")
    assert values == {"sensorId": "s-1", "unit": "lux"}
    assert template.render(values) == "sensors.s-1.readings.lux"


def test_parameter_never_spans_a_slash() -> None:
    assert parse_template("/rooms/{room}").match("/rooms/a/b") is None


@pytest.mark.parametrize("text", ["a.{x}.{x}", "a.{x", "a.}x", "a.{not valid}"])
def test_bad_templates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_template(text)


@pytest.mark.parametrize("value", ["", "a/b", "a#", "a+b", "..", "a..b", "a\x00", "a\nb", "\x7f"])
def test_forbidden_parameter_values(value: str) -> None:
    with pytest.raises(InvalidParameter):
        check_parameter_value("p", value, None)


def test_enum_is_enforced() -> None:
    check_parameter_value("region", "eu", frozenset({"eu", "us"}))
    with pytest.raises(InvalidParameter, match="must be one of"):
        check_parameter_value("region", "mars", frozenset({"eu", "us"}))
