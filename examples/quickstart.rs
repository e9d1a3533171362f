//! llmward's quickstart: a chat, a streamed answer, a tool call, and a router falling back
//! from a flaky cloud provider to an internal model.
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
use std::time::Duration;

use llmward::anthropic::Anthropic;
use llmward::gemini::Gemini;
use llmward::openai::OpenAi;
use llmward::{
    ApiKey, ChatRequest, Message, Provider, Route, Router, RouterEvent, StreamEvent, Tool,
    ToolChoice, ToolResult,
};
use llmward_testkit::{Reply, Upstream, openai as wire};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> llmward::Result<()> {
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
    println!("llmward quickstart: talking to {where_}\n");

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
    println!("   {}\n", answer.text());

    router_demo().await
}

/// Part 4: a router over three providers: a rate-limited cloud route, an overloaded backup,
/// and an internal self-hosted model that answers. Every attempt is an event; none carries a
/// key or prompt text. (Always on loopback upstreams, even with `--live`.)
async fn router_demo() -> llmward::Result<()> {
    println!("4. router: cloud (Anthropic) -> backup (Gemini) -> internal (self-hosted)");
    let cloud_up = Upstream::start().await;
    cloud_up.push(
        llmward_testkit::anthropic::error(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
        )
        .header("retry-after", "20"),
    );
    let backup_up = Upstream::start().await;
    backup_up.push(llmward_testkit::gemini::error(
        503,
        "UNAVAILABLE",
        "The model is overloaded.",
    ));
    let internal_up = Upstream::start().await;
    internal_up.push(Reply::json(
        200,
        wire::chat_completion(
            "llama3.1:8b",
            "Rayleigh scattering: short (blue) wavelengths scatter most.",
        ),
    ));

    // Demo keys for the loopback upstreams; real ones come from ApiKey::from_env / from_file.
    let cloud = Anthropic::builder()
        .base_url(cloud_up.url())
        .api_key(ApiKey::new("sk-ant-demo-not-a-real-key".into())?.with_label("anthropic-demo"))
        .build()?;
    let backup = Gemini::builder()
        .base_url(format!("{}/v1beta", backup_up.url()))
        .api_key(ApiKey::new("AIza-demo-not-a-real-key".into())?.with_label("gemini-demo"))
        .build()?;
    let internal = OpenAi::compatible(format!("{}/v1", internal_up.url()))
        .name("internal")
        .build()?;

    let router = Router::builder()
        .route(Route::new("cloud", cloud, "claude-haiku-4-5").alias("default"))
        .route(
            Route::new("backup", backup, "gemini-2.5-flash")
                .alias("default")
                .tier(1),
        )
        .route(
            Route::new("internal", internal, "llama3.1:8b")
                .alias("default")
                .tier(2),
        )
        .on_event(print_event)
        .deadline(Duration::from_secs(10))
        .build()?;

    let request = ChatRequest::builder("default")
        .user("Why is the sky blue?")
        .build()?;
    let answer = router.chat(&request).await?;
    println!("   {} (answered by {})", answer.text(), answer.provider());
    Ok(())
}

/// One readable line per router event (`{event}` alone prints every field, for logs).
fn print_event(event: &RouterEvent) {
    match event {
        RouterEvent::Attempt(a) => {
            let result = match (a.error_kind, a.status) {
                (Some(kind), Some(status)) => format!("{kind} (HTTP {status})"),
                (Some(kind), None) => kind.to_string(),
                (None, _) => "answered".into(),
            };
            println!(
                "   attempt {}  {:<9} {:<10} {:<18} {:<26} {:>6.1} ms  key: {}",
                a.attempt,
                a.route,
                a.provider,
                a.model,
                format!("{result} -> {}", a.outcome.as_str()),
                a.latency.as_secs_f64() * 1000.0,
                a.key_label.as_deref().unwrap_or("(none)"),
            );
        }
        other => println!("   {other}"),
    }
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
