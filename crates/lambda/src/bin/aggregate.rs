//! The aggregate function (see [`lambda::aggregator`]): Kinesis tumbling
//! windows on `wildrydes`, summaries to `SUMMARY_STREAM`.

use std::process::ExitCode;

use lambda::aggregator::{Aggregate, TumblingWindowEvent};
use lambda::runtime;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::init_tracing();
    let function = match Aggregate::from_env().await {
        Ok(function) => function,
        Err(error) => return runtime::cannot_start(error),
    };
    let function = &function;
    let result = lambda_runtime::run(service_fn(
        move |event: LambdaEvent<TumblingWindowEvent>| async move {
            let budget = runtime::budget(&event.context);
            function.handle(event.payload, budget).await
        },
    ))
    .await;
    runtime::exit(result)
}
