"""Class names: the built-in lists (NTU RGB+D 60/120, NW-UCLA, Penn Action) and label-map text files.

A config names its classes with the top-level key ``class_names``: a built-in list name (``'ntu60'``,
``'ntu120'``, ``'nw_ucla'``, ``'penn_action'``) or a list of strings. ``tools/train.py`` stores the
resolved list in the checkpoint's ``meta['class_names']``, so a checkpoint alone names its classes. A label
map is a text file with one class name per line, in label order (mmaction2's ``label_map_ntu60.txt``).
Index ``i`` of a list is the name of label ``i``.
"""

from __future__ import annotations

import os
from pathlib import Path

from stgcn.data.convert.nw_ucla import CLASS_NAMES as NW_UCLA
from stgcn.data.convert.penn_action import CLASS_NAMES as PENN_ACTION
from stgcn.errors import StgcnError, did_you_mean

# NTU RGB+D 120 actions A001..A120 (Liu et al., TPAMI 2019); the first 60 are NTU RGB+D 60.
NTU120 = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up (from sitting position)", "clapping", "reading", "writing",
    "tear up paper", "wear jacket", "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses",
    "take off glasses", "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving",
    "kicking something", "reach into pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call/answer phone", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person", "kicking other person", "pushing other person",
    "pat on back of other person", "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    # A061..A120 (NTU RGB+D 120 only)
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper",
    "ball up paper", "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag",
    "take off bag", "put something into a bag", "take something out of a bag", "open a box",
    "move heavy objects", "shake fist", "throw up cap/hat", "hands up (both hands)", "cross arms",
    "arm circles", "arm swings", "running on the spot", "butt kicks (kick backward)", "cross toe touch",
    "side kick", "yawn", "stretch oneself", "blow nose", "hit other person with something",
    "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five",
    "cheers and drink", "carry something with other person", "take a photo of other person",
    "follow other person", "whisper in other person's ear", "exchange things with other person",
    "support somebody with hand", "finger-guessing game (playing rock-paper-scissors)",
)
NTU60 = NTU120[:60]

BUILTIN: dict[str, tuple[str, ...]] = {
    "ntu60": NTU60, "ntu120": NTU120, "nw_ucla": NW_UCLA, "penn_action": PENN_ACTION,
}


def read_label_map(path: str | os.PathLike) -> list[str]:
    """One class name per line (blank lines at the end ignored; a trailing '.' as in mmaction2's kept)."""
    path = Path(path)
    if not path.is_file():
        raise StgcnError(f"{path}: label map not found; give a text file with one class name per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise StgcnError(f"{path}: label map is not UTF-8 text; give one class name per line") from None
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    if not names or not all(names):
        raise StgcnError(f"{path}: label map has an empty line {names.index('') + 1 if names else 1}; "
                         "give one class name per line")
    return names


def resolve_class_names(value: object, num_classes: int | None, where: str) -> list[str]:
    """A built-in name, a list of strings or a label-map path -> the list, checked against num_classes.

    ``where`` names the source in messages (``'config.py: class_names'``, ``'--label-map x.txt'``).
    """
    if isinstance(value, str) and value in BUILTIN:
        names = list(BUILTIN[value])
    elif isinstance(value, str) and value.endswith(".txt"):
        names = read_label_map(value)
    elif isinstance(value, str):
        raise StgcnError(f"{where}: unknown class list {value!r}{did_you_mean(value, BUILTIN)}; use one of "
                         f"{', '.join(BUILTIN)}, a list of names or a label-map .txt file")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        names = list(value)
    else:
        raise StgcnError(f"{where}: expected a built-in class list name ({', '.join(BUILTIN)}), a list of "
                         f"non-empty strings or a label-map .txt file, got {type(value).__name__}")
    if num_classes is not None and len(names) != num_classes:
        raise StgcnError(f"{where}: {len(names)} class names but the model has num_classes={num_classes}; "
                         f"give exactly {num_classes} names (one per line in a label map)")
    return names
