"""What the Bedrock emulator's jobs answer: a deterministic local model, and each input
record's output line in Bedrock's batch format (with the record errors and malformed outputs
the emulator's knobs ask for)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Protocol


class InferenceFaults(Protocol):
    """The emulator's knobs that make records fail (see `sluice.bedrock_emulator`)."""

    errorEvery: int
    malformedEvery: int
    errorRecordIds: Any
    malformedRecordIds: Any


def _fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name and " " not in name.strip():
            out[name.strip().lower()] = value.strip()
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def local_model(prompt: str) -> str:
    """A deterministic stand-in for the model: JSON title/description/tags from the prompt."""
    f = _fields(prompt)
    agency = f.get("agency", "Agency")
    kind = f.get("type", "Regulatory")
    company = f.get("company", "A company")
    finding = f.get("finding", "").rstrip(".")
    short = finding.split(": ", 1)[-1] if finding else "a workplace safety finding"
    title = f"{agency} {kind} violation: {short}"[:120]
    description = (
        f"{company} was cited by {agency} on {f.get('date', 'an unknown date')} for "
        f"{short}. The proposed fine is {f.get('fine', 'unknown')}."
    )
    tags = [t for t in (_slug(agency), _slug(kind)) if t]
    words = [w for w in re.findall(r"[a-z]{5,}", short.lower())][:3]
    tags += [w for w in words if w not in tags]
    return json.dumps({"title": title, "description": description, "tags": tags[:6]})


def _prompt_of(model_input: Any) -> str:
    texts: list[str] = []
    for message in (model_input or {}).get("messages", []) if isinstance(model_input, dict) else []:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [c["text"] for c in content if isinstance(c, dict) and "text" in c]
    return "\n".join(texts)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def infer(
    cfg: InferenceFaults, model_id: str, lines: list[str]
) -> tuple[list[str], dict[str, int]]:
    """Bedrock's output lines for the input lines, and manifest.json.out's counts."""
    out: list[str] = []
    ok = errors = tokens_in = tokens_out = 0
    for n, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            record_id = str(record.get("recordId") or f"{n:011d}")
            model_input = record["modelInput"]
        except (ValueError, KeyError, AttributeError):
            errors += 1
            out.append(
                json.dumps(
                    {
                        "recordId": f"{n:011d}",
                        "error": {"errorCode": 400, "errorMessage": "Malformed input record"},
                    }
                )
            )
            continue
        text = _prompt_of(model_input)
        result: dict[str, Any] = {"recordId": record_id, "modelInput": model_input}
        if (
            "[[record-error]]" in text
            or record_id in cfg.errorRecordIds
            or (cfg.errorEvery and n % cfg.errorEvery == 0)
        ):
            errors += 1
            result["error"] = {
                "errorCode": 400,
                "errorMessage": "Malformed input request, please reformat your input "
                "and try again.",
            }
            out.append(json.dumps(result))
            continue
        if (
            "[[malformed]]" in text
            or record_id in cfg.malformedRecordIds
            or (cfg.malformedEvery and n % cfg.malformedEvery == 0)
        ):
            answer = "Sorry, here is a summary: " + local_model(text)[:40]
        else:
            answer = local_model(text)
        ok += 1
        tokens_in += _tokens(text)
        tokens_out += _tokens(answer)
        result["modelOutput"] = {
            "id": f"msg_bdrk_{hashlib.sha256(record_id.encode()).hexdigest()[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": _tokens(text), "output_tokens": _tokens(answer)},
        }
        out.append(json.dumps(result))
    counts = {
        "totalRecordCount": len(lines),
        "processedRecordCount": len(lines),
        "successRecordCount": ok,
        "errorRecordCount": errors,
        "inputTokenCount": tokens_in,
        "outputTokenCount": tokens_out,
    }
    return out, counts
