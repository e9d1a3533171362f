//! keyward's quickstart: a chat, a streamed answer and a tool call.
//!
//! ```text
//! cargo run --example quickstart            # no keys, no network: loopback upstreams
//! cargo run --example quickstart -- --live  # OpenAI itself, key from OPENAI_API_KEY
//! ```
//!
//! Without `--live` it starts an in-process upstream that speaks OpenAI's wire format on
//! 127.0.0.1, so it runs anywhere. A key in the environment alone never sends traffic out.
#![allow(clippy::print_stdout)]

use std::io::Write;

use keyward::openai::OpenAi;
use keyward::{ApiKey, ChatRequest, Message, Provider, StreamEvent, Tool, ToolChoice, ToolResult};
use keyward_testkit::{Reply, Upstream, openai as wire};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> keyward::Result<()> {
    let live = std::env::args().any(|a| a == "--live");
    let (provider, model, _upstream) = if live {
        let key = ApiKey::from_env("OPENAI_API_KEY")?.with_label("OPENAI_API_KEY");
        (
            OpenAi::builder().api_key(key).build()?,
            "gpt-4.1-mini".to_string(),
            None,
        )
    } else {
        let upstream = Upstream::start().await;
        script(&upstream);
        let local = OpenAi::compatible(format!("{}/v1", upstream.url()))
            .name("local-openai")
            .build()?;
        (local, "demo-model".to_string(), Some(upstream))
    };
    let where_ = if live {
        "OpenAI (live)"
    } else {
        "a loopback upstream (no network)"
    };
    println!("keyward quickstart: talking to {where_}\n");

    // 1. A chat.
    let request = ChatRequest::builder(&model)
        .system("Be brief.")
        .user("Why is the sky blue?")
        .max_tokens(200)
        .build()?;
    let answer = provider.chat(&request).await?;
    println!("1. chat");
    println!("   > Why is the sky blue?");
    println!("   {}", answer.text());
    if let Some(usage) = answer.usage {
        println!(
            "   ({} via {}, {} tokens in, {} out)\n",
            answer.model,
            answer.provider(),
            usage.input_tokens,
            usage.output_tokens
        );
    }

    // 2. The same question, streamed.
    println!("2. stream");
    print!("   ");
    let mut stream = provider.chat_stream(&request).await?;
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta(text) = event? {
            print!("{text}");
            std::io::stdout().flush().ok();
        }
    }
    println!("\n");

    // 3. A tool call, answered, and the final reply.
    println!("3. tool call");
    let weather = Tool::new(
        "get_weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
    .description("Current weather for a city");
    let ask = ChatRequest::builder(&model)
        .user("What's the weather in Berlin?")
        .tool(weather.clone())
        .tool_choice(ToolChoice::Required)
        .build()?;
    let first = provider.chat(&ask).await?;
    let Some(call) = first.tool_calls().first().map(|c| (*c).clone()) else {
        println!(
            "   the model answered without calling the tool: {}",
            first.text()
        );
        return Ok(());
    };
    println!("   model calls {}({})", call.name, call.arguments);
    let result = "12°C, light rain";
    println!("   tool returns {result:?}");
    let follow_up = ChatRequest::builder(&model)
        .user("What's the weather in Berlin?")
        .message(first.to_message())
        .message(Message::tool_result(ToolResult::new(&call.id, result)))
        .tool(weather)
        .build()?;
    let answer = provider.chat(&follow_up).await?;
    println!("   {}", answer.text());
    Ok(())
}

/// What the loopback upstream answers, in order.
fn script(upstream: &Upstream) {
    let sky =
        "Sunlight scatters off air molecules, and blue light scatters most (Rayleigh scattering).";
    upstream.push(Reply::json(200, wire::chat_completion("demo-model", sky)));
    let pieces: Vec<String> = sky.split_inclusive(' ').map(str::to_owned).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    upstream.push(
        Reply::sse(wire::stream_text("demo-model", &pieces))
            .chunk_delay(std::time::Duration::from_millis(40)),
    );
    upstream.push(Reply::json(
        200,
        wire::tool_call_completion(
            "demo-model",
            &[("call_demo_1", "get_weather", json!({"city": "Berlin"}))],
        ),
    ));
    upstream.push(Reply::json(
        200,
        wire::chat_completion(
            "demo-model",
            "It's 12°C with light rain in Berlin: take an umbrella.",
        ),
    ));
}
