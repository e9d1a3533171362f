//! Load: 10,000 requests, 64 in flight, two cloud routes with injected faults and an internal
//! route. The run and its invariants live in `support::run_load`, parameterised by the fault mix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use llmward_core::ErrorKind;
use support::{Fault, FaultMix, Load, LoadFault, load_routes, run_load};

#[tokio::test(start_paused = true)]
async fn ten_thousand_calls_with_thirty_percent_cloud_faults() {
    let load = Load::default();
    let (mocks, builder) = load_routes(&load);
    let router = builder.build().unwrap();
    let report = run_load(&load, router, &mocks).await;
    eprintln!("{report:?}");
    // The internal route never fails, so every call is answered.
    assert_eq!(report.answered, load.requests, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    // Cooldowns (5 consecutive failures, or a Retry-After) send part of the load to the
    // internal route; every route served some.
    for route in ["cloud-a", "cloud-b", "internal"] {
        let calls = report.route_calls.get(route).copied().unwrap_or(0);
        assert!(calls > 100, "{route}: {report:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_streams_with_faults_before_and_after_content() {
    let mut faults = FaultMix::standard();
    faults.0.push((
        0.05,
        LoadFault::ErrorBeforeContent(Fault::new(ErrorKind::Server).status(500)),
    ));
    faults.0.push((0.01, LoadFault::TruncatedAfterContent));
    let load = Load {
        stream: true,
        faults,
        ..Load::default()
    };
    let (mocks, builder) = load_routes(&load);
    let router = builder.build().unwrap();
    let report = run_load(&load, router, &mocks).await;
    eprintln!("{report:?}");
    // Only a failure after content may end a call with an error, and it is StreamTruncated.
    assert_eq!(
        report.failed_after_content,
        report.errors.values().sum::<usize>()
    );
    assert!(
        report
            .errors
            .keys()
            .all(|k| *k == ErrorKind::StreamTruncated),
        "{report:?}"
    );
    assert!(report.failed_after_content > 0, "{report:?}");
    assert_eq!(report.answered + report.failed_after_content, load.requests);
}

#[tokio::test(start_paused = true)]
async fn every_route_faulty_with_resets_stalls_and_slow_answers() {
    let mut faults = FaultMix::standard();
    faults.0.push((0.02, LoadFault::Reset));
    faults.0.push((0.01, LoadFault::Stall));
    faults
        .0
        .push((0.05, LoadFault::Slow(Duration::from_millis(800))));
    let load = Load {
        requests: 5_000,
        internal_faults: FaultMix(vec![
            (
                0.2,
                LoadFault::Error(Fault::new(ErrorKind::Server).status(502)),
            ),
            (0.01, LoadFault::Stall),
        ]),
        faults,
        route_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(20),
        ..Load::default()
    };
    let (mocks, builder) = load_routes(&load);
    let router = builder.build().unwrap();
    let report = run_load(&load, router, &mocks).await;
    eprintln!("{report:?}");
    assert_eq!(
        report.answered + report.errors.values().sum::<usize>(),
        load.requests
    );
    assert!(report.answered > load.requests * 9 / 10, "{report:?}");
}
