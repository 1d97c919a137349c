"""The one message for a checkpoint that ``torch.load(weights_only=True)`` refuses, whoever loads it.

torch re-raises its restricted unpickler's error wrapped in paragraphs of advice that end in "Re-running
torch.load with weights_only set to False will likely succeed": advice to run the file's code. The unpickler's own
short error is kept in ``__context__``; this module turns it into what was refused (a global outside the
allow-list, a pickle opcode the restricted unpickler does not implement, or another rule) and says that nothing in
the file was run. ``midway export``, ``pretrain --resume``, ``import-official`` and ``--resume-official`` use it,
and so does ``compat/safe_checkpoint.py`` for mmengine checkpoints (``mim test``, ``load_from``): standard library
only, so the compatibility layer may import it.
"""

from __future__ import annotations

import pickle
import pickletools
import re

#: The sentence every refusal ends with.
TRUST_ADVICE = "nothing in it was run. Only load checkpoints from sources you trust"


def _opcode_name(code: int) -> str:
    for opcode in pickletools.opcodes:
        if ord(opcode.code.encode("latin-1")) == code:
            return opcode.name
    return "not a pickle opcode"


def refusal_reason(err: BaseException) -> str:
    """What the restricted unpickler refused, in words, from its own message (torch's advice dropped)."""
    original = err.__context__ if isinstance(err.__context__, pickle.UnpicklingError) else err
    detail = str(original).strip().split("\n", 1)[0] or type(original).__name__
    found = re.search(r"GLOBAL ([\w.]+(?:\([^)]*\))?)", detail)
    if found and (
        "unsupported GLOBAL" in detail
        or "Unsupported global" in detail
        or "not an allowed global" in detail
        or "is blocked" in detail
        or "is not allow-listed" in detail
    ):
        return f"it references the global {found.group(1)}, which is not on the allow-list ({detail})"
    found = re.search(r"unrecognized function (.+?)(?: which belongs|$)", detail)
    if found:
        return f"it calls {found.group(1)}, which is not on the allow-list ({detail})"
    found = re.fullmatch(r"Unsupported operand (\d+)", detail)
    if found:
        code = int(found.group(1))
        return (
            f"it uses the pickle opcode {code} (0x{code:02x}, {_opcode_name(code)}), which the restricted "
            "unpickler does not implement"
        )
    return f"the restricted unpickler refused it: {detail}"


def refusal_message(source: str, err: BaseException) -> str:
    """``"refused to load checkpoint 'x.ckpt': <what>; nothing in it was run. Only load ... trust."``"""
    return f"refused to load checkpoint {source!r}: {refusal_reason(err)}; {TRUST_ADVICE}."


__all__ = ["TRUST_ADVICE", "refusal_message", "refusal_reason"]
