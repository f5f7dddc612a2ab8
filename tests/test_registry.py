"""The one config-name lookup every layer builds through."""

import pytest

from stgcn.errors import StgcnError
from stgcn.registry import build_from_table


class Thing:
    def __init__(self, size, colour="red", context=None):
        self.size, self.colour, self.context = size, colour, context


TABLE = {"Thing": Thing}


def test_builds_with_extra_arguments_the_config_may_not_set():
    thing = build_from_table(dict(type="Thing", size=3), TABLE, "things.0", context="ctx")
    assert (thing.size, thing.colour, thing.context) == (3, "red", "ctx")
    with pytest.raises(StgcnError, match=r"things.0: Thing got unexpected argument 'context'; "
                                         r"it accepts: size, colour$"):
        build_from_table(dict(type="Thing", size=3, context=1), TABLE, "things.0", context="ctx")


@pytest.mark.parametrize("cfg, message", [
    ([1], r"things.0 must be a dict with a 'type' key"),
    (dict(type="Thin", size=1),
     r"things.0: unknown widget type 'Thin' \(did you mean 'Thing'\?\); valid: Thing"),
    (dict(type="Thing", sise=1), r"Thing got unexpected argument 'sise' \(did you mean 'size'\?\)"),
    (dict(type="Thing"),
     r"Thing is missing required argument\(s\) 'size'; it accepts: size, colour, context"),
])
def test_one_line_errors(cfg, message):
    with pytest.raises(StgcnError, match=message):
        build_from_table(cfg, TABLE, "things.0", what="widget type")
