from __future__ import annotations

import pytest

from dgenerate.batch import escape_variables, expand_variables, read_invocations
from dgenerate.errors import ConfigError

REFERENCE_EXAMPLE = """
# Comments in the file will be ignored

model --prompts "an astronaut riding a horse" --seeds 41509644783027 --output-path output
model --prompts "a cowboy riding a horse" --seeds 78553317097366

# Multiline continuations are possible by using \\

model --prompts "a martian riding a horse" \\
--output-path unique_output_3  \\

# There can be comments or newlines within the continuation
--inference-steps 30 \\
--guidance-scales 10
"""


def test_reference_batch_example() -> None:
    invocations = read_invocations(REFERENCE_EXAMPLE)
    assert [i.line for i in invocations] == [4, 5, 9]
    assert invocations[0].argv == ("model", "--prompts", "an astronaut riding a horse", "--seeds", "41509644783027",
                                   "--output-path", "output")
    assert invocations[2].argv == ("model", "--prompts", "a martian riding a horse", "--output-path",
                                   "unique_output_3", "--inference-steps", "30", "--guidance-scales", "10")


def test_environment_variables_expand_and_dollar_dollar_is_literal() -> None:
    env = {"OUT": "/tmp/x"}
    assert expand_variables("-o $OUT ${OUT}/y $NOPE $$OUT", env) == "-o /tmp/x /tmp/x/y $NOPE $OUT"
    text = "cost $5 and $HOME"
    assert expand_variables(escape_variables(text), env) == text


def test_quoted_prompt_may_span_lines_and_keeps_its_newline() -> None:
    (invocation,) = read_invocations("m --prompts 'line one\n# not a comment\nline two' --seeds 1\n")
    assert invocation.argv[2] == "line one\n# not a comment\nline two"


def test_unclosed_quote_names_the_line() -> None:
    with pytest.raises(ConfigError, match="line 2"):
        read_invocations("\nm --prompts 'oops\n")


def test_config_text_is_never_executed() -> None:
    (invocation,) = read_invocations("m --prompts \"$(touch /tmp/pwned)\" `id`\n")
    assert invocation.argv == ("m", "--prompts", "$(touch /tmp/pwned)", "`id`")


def test_text_from_elsewhere_reads_no_variable() -> None:
    (invocation,) = read_invocations("m --prompts '${HOME} $HOME $$HOME'\n", {"HOME": "/root"}, expand=False)
    assert invocation.argv == ("m", "--prompts", "${HOME} $HOME $HOME")


def test_a_directive_is_refused_with_its_line_and_never_run() -> None:
    with pytest.raises(ConfigError, match=r"^line 3: '\\print' is a directive .* never runs"):
        read_invocations("m --seeds 1\n\n\\print ${HOME}\n", {"HOME": "/root"})
    (quoted,) = read_invocations("m --prompts 'a\n\\b' --seeds 1\n")  # inside a quote it is text
    assert quoted.argv[2] == "a\n\\b"
