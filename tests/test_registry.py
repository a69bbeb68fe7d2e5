"""Tests of repro.utils.registry.Registry."""

import pytest

from repro.utils.registry import Registry, UnknownNameError


def make_registry() -> Registry:
    registry = Registry("policy loss")

    @registry.register("clipped")
    def clipped():
        return "clipped"

    @registry.register("alpha")
    def alpha():
        return "alpha"

    return registry


def test_register_returns_object_unchanged():
    registry = Registry("metric")

    def accuracy():
        return 1.0

    decorated = registry.register("accuracy")(accuracy)

    assert decorated is accuracy
    assert registry.get("accuracy") is accuracy


def test_names_are_sorted():
    registry = make_registry()

    assert registry.names() == ["alpha", "clipped"]
    assert len(registry) == 2


def test_contains_registered_names_only():
    registry = make_registry()

    assert "clipped" in registry
    assert "clip" not in registry
    assert ["clipped"] not in registry  # unhashable input is a miss, not a TypeError


def test_duplicate_name_raises_naming_it():
    registry = make_registry()

    with pytest.raises(ValueError, match="policy loss 'clipped' is already registered"):
        registry.register("clipped")

    assert registry.get("clipped")() == "clipped"


def test_duplicate_at_decoration_time_raises():
    registry = Registry("suite")
    first = registry.register("aime")
    second = registry.register("aime")
    first(object())

    with pytest.raises(ValueError, match="suite 'aime' is already registered"):
        second(object())


def test_unknown_name_lists_registered_names_sorted():
    registry = make_registry()

    with pytest.raises(UnknownNameError) as caught:
        registry.get("clip")

    message = str(caught.value)
    assert message == "unknown policy loss 'clip'; valid names are: alpha, clipped"


def test_unknown_name_is_key_error_and_value_error():
    registry = make_registry()

    with pytest.raises(KeyError):
        registry.get("nope")
    with pytest.raises(ValueError):
        registry.get("nope")


def test_unknown_name_in_empty_registry():
    registry = Registry("method")

    with pytest.raises(UnknownNameError, match="no method is registered yet"):
        registry.get("grpo")


@pytest.mark.parametrize("bad_name", ["", "   ", None, 3])
def test_invalid_name_raises(bad_name):
    registry = Registry("method")

    with pytest.raises(ValueError, match="method name must be a non-empty string"):
        registry.register(bad_name)


def test_invalid_kind_raises():
    with pytest.raises(ValueError, match="Registry kind must be a non-empty string"):
        Registry("")
