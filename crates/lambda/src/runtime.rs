//! What the binaries share: logging, the time budget of an invocation and
//! how errors reach Lambda.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use lambda_runtime::{service_fn, Context, Diagnostic, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::aggregator::AggregateError;
use crate::loader::LoadFailed;

/// Time kept back from an invocation's deadline to answer Lambda (with the
/// failures) before it stops the function.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// Logs to stdout (CloudWatch Logs) in the format and at the level the
/// function's logging configuration asks for (`AWS_LAMBDA_LOG_FORMAT`,
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`).
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// A function that cannot start: the reason on stderr (CloudWatch Logs
/// keeps it; Lambda reports the init failure), exit status 1.
pub fn cannot_start(error: impl Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

/// The runtime's end (it only ends on a Runtime API failure).
pub fn exit(result: Result<(), lambda_runtime::Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => cannot_start(format!("the Lambda runtime stopped: {error}")),
    }
}

/// A binary's `main`: logging, the function built by `start` (a failure is
/// reported once, exit status 1), then every invocation handed to `call`
/// with the function and its time budget until the runtime ends.
pub async fn serve<F, E, Event, Out, Failure, Fut>(
    start: impl Future<Output = Result<F, E>>,
    call: fn(&'static F, Event, Option<Duration>) -> Fut,
) -> ExitCode
where
    F: Sync + 'static,
    E: Display,
    Event: DeserializeOwned + Send + 'static,
    Fut: Future<Output = Result<Out, Failure>> + Send,
    Out: Serialize,
    Failure: Into<Diagnostic> + Debug,
{
    init_tracing();
    // The function lives as long as the process.
    let function: &'static F = match start.await {
        Ok(function) => Box::leak(Box::new(function)),
        Err(error) => return cannot_start(error),
    };
    // Boxed: the runtime's future nests deep enough to exceed the compiler's
    // layout depth limit inside a generic `main`.
    let result = Box::pin(lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Event>| {
            let budget = budget(&event.context);
            call(function, event.payload, budget)
        },
    )))
    .await;
    exit(result)
}

/// The time an invocation may still spend on its work.
pub fn budget(context: &Context) -> Option<Duration> {
    time_left(context.deadline(), SystemTime::now())
}

/// `deadline - now - DEADLINE_MARGIN` (zero when that is past); `None` when
/// no deadline was given (the epoch).
pub fn time_left(deadline: SystemTime, now: SystemTime) -> Option<Duration> {
    if deadline == SystemTime::UNIX_EPOCH {
        return None;
    }
    let left = deadline.duration_since(now).unwrap_or_default();
    Some(left.saturating_sub(DEADLINE_MARGIN))
}

fn diagnostic(error_type: &str, error: &dyn std::error::Error) -> Diagnostic {
    Diagnostic {
        error_type: error_type.to_owned(),
        error_message: error.to_string(),
    }
}

impl From<AggregateError> for Diagnostic {
    fn from(error: AggregateError) -> Self {
        diagnostic("AggregateError", &error)
    }
}

impl From<LoadFailed> for Diagnostic {
    fn from(error: LoadFailed) -> Self {
        diagnostic("LoadError", &error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_margin_before_the_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            time_left(now + Duration::from_secs(60), now),
            Some(Duration::from_secs(58))
        );
        assert_eq!(
            time_left(now + Duration::from_secs(1), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            time_left(now - Duration::from_secs(1), now),
            Some(Duration::ZERO)
        );
        assert_eq!(time_left(SystemTime::UNIX_EPOCH, now), None);
    }
}
