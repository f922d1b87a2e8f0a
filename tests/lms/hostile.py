# ruff: noqa: RUF001 (non-Latin and lookalike characters are the point of these fixtures)
"""A batch whose every field holds what GIFT, XML, HTML and the LMSs treat specially.

Edited in through the review service, as a faculty member would type it: GIFT's `= ~ # { } :`
and backslash, XML's `]]> < > & " '`, Moodle's format markers at the start of a text and its
placeholders (`&&035;`), line breaks (also CRLF and blank lines), tabs, double spaces,
non-Latin text and the longest texts the validator allows.
"""

from __future__ import annotations

from typing import Any

from batches import review, services
from batches.models import BatchItem, BatchJob
from generation.pipeline import EXPLANATION_LENGTH, OPTION_LENGTH, STEM_LENGTH
from tests.factories import batch_definition
from tests.review_data import finish_items

# The longest topic the API takes (200 characters); an LMS name keeps its first 80.
TOPIC = ('Acid–base {balance}: <b>K+</b> & & "ions" ~ = # \\ ]]> `code` 中文 [html] ' * 4)[
    :199
] + "!"
# The topic as a tag: Moodle keeps no `<`, `>` or backtick in one.
TOPIC_TAG = TOPIC.replace("<", "").replace(">", "").replace("`", "").strip()
SPECIAL = "= ~ # { } : \\ ]]> < > & \" '"
PLACEHOLDERS = "&&035; &&061; &&010 &&&058;"
NON_LATIN = "Ελληνικά 中文 العربية 🫀 é"
OBJECTIVE = ("Interpret / explain <K+> & `ECG` ]]> {x}: ~ = # \\ 中文 " * 8)[:300].strip()
CITATION = {
    "source": 7,
    "name": 'Guyton & Hall <11th ed.> "Renal" ]]>',
    "passage": 42,
    "page": "12-13",
    "section": "Renal › Tubule / K+ & H+",
    "quote": "K > 5.5 mmol/L & [html]<b>peaked</b> T waves ]]> #### {x}",
}


def _long(seed: str, length: int, end: str = "") -> str:
    chunk = f"{seed} {SPECIAL} {PLACEHOLDERS} {NON_LATIN} [plain]\n"
    text = (chunk * (length // len(chunk) + 1))[: length - len(end)].strip() + end
    return text.ljust(length, "x")[:length]


QUESTIONS: list[dict[str, Any]] = [
    {
        "stem": (
            "[html]<b>A 45-year-old</b> man: = ~ # { } \\ ]]> < > & \" ' &&035; &&010\n\n"
            "His K > 5.5 mmol/L & pH < 7.2.\nWhich [markdown] *drug*  first?"
        ),
        "options": [
            {"label": "A", "text": "[html]<i>Furosemide</i> & ]]>"},
            {"label": "B", "text": "[markdown]**Spironolactone** ~ = #"},
            {"label": "C", "text": "[plain]Amiloride {ENaC}: \\"},
            {"label": "D", "text": "[moodle]%50% Insulin \\n -> glucose"},
            {"label": "E", "text": "&&035; Calcium gluconate 'IV' \"stat\""},
        ],
        "correct_answer": "E",
        "explanation": (
            "[plain]K > 5.5 & ECG changes: #### give calcium {first}.\r\n"
            "Then insulin ~ glucose = shift.\n\n\tIndented  line ]]> end &&061;"
        ),
    },
    {
        "stem": _long("Longest stem", STEM_LENGTH[1], end="?"),
        "options": [
            {"label": label, "text": _long(f"Option {label}{label}", OPTION_LENGTH[1])}
            for label in "ABCDE"
        ],
        "correct_answer": "A",
        "explanation": _long("[moodle]Longest explanation", EXPLANATION_LENGTH[1]),
    },
    {
        "stem": "Ένας ασθενής 45 ετών με υπερκαλιαιμία.\n患者は何を必要としますか？ ما العلاج؟",
        "options": [
            {"label": "A", "text": "Γλυκονικό ασβέστιο"},
            {"label": "B", "text": "胰岛素和葡萄糖"},
            {"label": "C", "text": "سالبوتامول"},
            {"label": "D", "text": "🫀 Dialyse «sofort»"},
            {"label": "E", "text": "Kayexalate® — ½ dose"},
        ],
        "correct_answer": "A",
        "explanation": "Το ασβέστιο σταθεροποιεί τη μεμβράνη.\n钙稳定心肌膜。",
    },
    {
        "stem": "A 60-year-old woman has a potassium of 6.8 mmol/L. Which treatment comes first?",
        "options": [
            {"label": "A", "text": "Oral potassium binder"},
            {"label": "B", "text": "Intravenous insulin with glucose"},
            {"label": "C", "text": "Nebulised salbutamol"},
            {"label": "D", "text": "Haemodialysis"},
            {"label": "E", "text": "Intravenous calcium gluconate"},
        ],
        "correct_answer": "E",
        "explanation": (
            "The correct answer is E: calcium protects the heart. Option C and (B) shift "
            "potassium into cells; answer A acts slowly."
        ),
    },
]
# What the GIFT export writes for question 3's explanation: Moodle shuffles GIFT answers.
LETTERS_REWRITTEN = (
    "The correct answer is “Intravenous calcium gluconate”: calcium protects the heart. "
    "Option “Nebulised salbutamol” and (“Intravenous insulin with glucose”) shift "
    "potassium into cells; answer “Oral potassium binder” acts slowly."
)


def hostile_batch(owner) -> BatchJob:
    """Return a completed batch of the questions above, edited in by `owner`."""
    definition = batch_definition(target_count=len(QUESTIONS), scope={"topic": TOPIC})
    batch, _ = services.create_batch(owner=owner, definition=definition)
    items = finish_items(batch, [4] * len(QUESTIONS))
    for item, question in zip(items, QUESTIONS, strict=True):
        review.edit_question(item=item, user=owner, changes=question)
    # The plan's and the grounding's fields, as the planning and sources work stores them.
    BatchItem.objects.filter(batch=batch, index=0).update(
        spec={"objective": OBJECTIVE, "bloom_level": "apply", "difficulty": "hard"}
    )
    BatchItem.objects.filter(batch=batch, index=1).update(
        spec={"objective": "Treat hyperkalaemia", "bloom_level": "evaluate"}
    )
    item = BatchItem.objects.get(batch=batch, index=0)
    BatchItem.objects.filter(pk=item.pk).update(result={**item.result, "citation": CITATION})
    return batch
