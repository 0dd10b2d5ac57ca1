"""The Label Studio labelling config for span review: instruction, rubric, response with a ``relevant`` label.

Whitespace matters: offsets index the raw response, so the response must be displayed exactly as stored
(double spaces, ``\\r\\n``, indentation). Label Studio renders ``<Text>`` as HTML, where runs of spaces collapse
and the selected ``text`` of a region loses them, so the config sets ``white-space: pre-wrap`` both with the
documented ``<Style>.htx-text{...}</Style>`` rule and on the enclosing ``<View>`` (inherited by the text node).
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

CONFIG_VERSION = "rtt-span-review-v2"
FROM_NAME = "relevant"  # the Labels control
TO_NAME = "response"  # the Text object the spans index
LABEL = "relevant"
VERDICT_NAME = "verdict"
VERDICT_CHOICES = {"satisfied": 1, "violated": -1}

DEFAULT_INSTRUCTIONS = (
    "Mark every part of the response that decides whether it meets the criterion: the characters that satisfy it "
    "or the characters that break it. Pre-annotated spans come from the automatic labeller: fix them, then submit. "
    "The pair box says whether this response is the one that meets the criterion or its minimally edited twin "
    "that breaks it, and shows what the edit changed. Then tell, yourself, whether the response satisfies the "
    "criterion (nothing is pre-selected)."
)
# task data keys the config reads (push fills every one, so no task shows a missing-field warning)
DATA_KEYS = ("instruction", "criteria", "response", "polarity_note", "pair_context", "why")


def label_config(instructions: str = DEFAULT_INSTRUCTIONS, verdict: bool = True) -> str:
    """The XML labelling config. Task data keys: :data:`DATA_KEYS` (``annotation.push.task_payload``).

    Layout: reviewer instructions; the instruction; the criterion; the pair box (polarity, the paired response
    or the diff of the edit) and why the pre-annotated span matters; the response to label; the verdict radio
    (never pre-filled: predictions carry no verdict)."""
    verdict_xml = ""
    if verdict:
        choices = "\n".join(f'      <Choice value="{v}"/>' for v in VERDICT_CHOICES)
        verdict_xml = (
            f'    <Header value="Does the response meet the criterion?" size="5"/>\n'
            f'    <Choices name="{VERDICT_NAME}" toName="{TO_NAME}" choice="single-radio" showInline="true">\n'
            f"{choices}\n    </Choices>\n"
        )
    return f"""<View>
  <Style>.htx-text {{ white-space: pre-wrap; }} .rtt-box {{ padding: 6px 10px; border-radius: 6px; }}</Style>
  <View className="rtt-box" style="background: #f5f7fa; margin-bottom: 8px">
    <Header value="Instructions for reviewers" size="6"/>
    <Text name="how" value={quoteattr(instructions)} selectionEnabled="false"/>
  </View>
  <Header value="Instruction" size="5"/>
  <View style="white-space: pre-wrap">
    <Text name="instruction" value="$instruction" selectionEnabled="false"/>
  </View>
  <Header value="Criterion (rubric)" size="5"/>
  <View className="rtt-box" style="white-space: pre-wrap; background: #fff8e6">
    <Text name="criteria" value="$criteria" selectionEnabled="false"/>
  </View>
  <View className="rtt-box" style="white-space: pre-wrap; background: #eef6ff; margin-top: 8px">
    <Text name="polarity" value="$polarity_note" selectionEnabled="false"/>
    <Text name="pair" value="$pair_context" selectionEnabled="false"/>
    <Text name="why" value="$why" selectionEnabled="false"/>
  </View>
  <Header value="Response: select the characters relevant to the criterion" size="5"/>
  <Labels name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInline="true">
    <Label value="{LABEL}" background="#ff9f1c" hotkey="r"/>
  </Labels>
  <View style="white-space: pre-wrap; border: 1px solid #d0d7de; padding: 8px; border-radius: 6px">
    <Text name="{TO_NAME}" value="${TO_NAME}" granularity="symbol" saveTextResult="yes"/>
  </View>
{verdict_xml}</View>
"""
