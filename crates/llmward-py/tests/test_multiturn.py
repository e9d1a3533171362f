"""A ChatResponse put back in `messages` carries its reasoning signatures to the provider
that made them, and drops them for the others: tool use with thinking works across
providers."""

from conftest import USER

THINKING_TOOL_USE = {
    "id": "msg_test_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [
        {"type": "thinking", "thinking": "The user wants the weather.", "signature": "sig-abc-123"},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 20},
}

TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


def test_thinking_signature_round_trip_and_cross_provider(upstream):
    import llmward

    upstream.mode("anthropic")
    claude = llmward.Anthropic(api_key="sk-ant-fixture-Hq3Jv8Ns2Lc", base_url=upstream.url)
    upstream.push({"json": THINKING_TOOL_USE})
    first = claude.chat(USER, model="claude-test", tools=TOOLS, reasoning_budget=1024, max_tokens=2048)
    assert first.reasoning == "The user wants the weather."
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls[0].arguments == {"city": "Paris"}
    assert upstream.last_json()["thinking"]["budget_tokens"] == 1024

    follow_up = USER + [first, {"role": "tool", "tool_call_id": "toolu_1", "content": "20C"}]
    claude.chat(follow_up, model="claude-test", tools=TOOLS, reasoning_budget=1024, max_tokens=2048)
    assistant = upstream.last_json()["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {
        "type": "thinking", "thinking": "The user wants the weather.", "signature": "sig-abc-123"}
    assert assistant["content"][1]["type"] == "tool_use" and assistant["content"][1]["id"] == "toolu_1"
    result = upstream.last_json()["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_1"

    upstream.mode("openai")
    other = llmward.OpenAICompatible(upstream.url + "/v1")
    other.chat(follow_up, model="m", tools=TOOLS)
    sent = upstream.last_json()["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "toolu_1"
    assert "sig-abc-123" not in str(sent), "another provider's signature is dropped"
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "20C"}
