//! llmward never reads proxy settings from the environment: a proxy variable pointing at a
//! listening "proxy" receives nothing. (Its own test binary, because it sets process-wide
//! environment variables.)
#![allow(clippy::unwrap_used)]

use llmward::openai::OpenAi;
use llmward::{ChatRequest, Provider};
use llmward_testkit::{Upstream, openai as wire};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_environment_variables_are_ignored() {
    let proxy = Upstream::start().await;
    proxy.set_handler(wire::handler());
    let target = Upstream::start().await;
    target.set_handler(wire::handler());
    // The variables are set on a child process running the test below, since changing this
    // process's environment would race with other tests.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .arg("--exact")
        .arg("child_with_proxy_env")
        .arg("--nocapture")
        .env("LLMWARD_TEST_TARGET", target.url())
        .env("HTTP_PROXY", proxy.url())
        .env("http_proxy", proxy.url())
        .env("ALL_PROXY", proxy.url())
        .env("all_proxy", proxy.url())
        .env("HTTPS_PROXY", proxy.url());
    let status = tokio::task::spawn_blocking(move || child.status().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(proxy.request_count(), 0, "the environment's proxy was used");
    assert_eq!(target.request_count(), 1);
}

#[tokio::test]
async fn child_with_proxy_env() {
    let Ok(target) = std::env::var("LLMWARD_TEST_TARGET") else {
        return;
    };
    let openai = OpenAi::compatible(format!("{target}/v1")).build().unwrap();
    let request = ChatRequest::builder("m").user("hi").build().unwrap();
    openai.chat(&request).await.unwrap();
}
