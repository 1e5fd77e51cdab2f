//! The alert function (see [`lambda::alerter`]): `wildrydes` → the topic
//! `TOPIC_ARN` (and `ALERT_STREAM`) when MagicPoints fall below
//! `MAGIC_POINTS_THRESHOLD`.

use std::convert::Infallible;
use std::process::ExitCode;

use aws_lambda_events::kinesis::KinesisEvent;
use lambda::alerter::AlertFunction;
use lambda::runtime;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::init_tracing();
    let function = match AlertFunction::from_env().await {
        Ok(function) => function,
        Err(error) => return runtime::cannot_start(error),
    };
    let function = &function;
    let result = lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move {
            let budget = runtime::budget(&event.context);
            Ok::<_, Infallible>(function.handle(event.payload, budget).await)
        },
    ))
    .await;
    runtime::exit(result)
}
