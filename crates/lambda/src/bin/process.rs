//! The process function (see [`lambda::processor`]): `wildrydes-summary`
//! into the table `TABLE_NAME`, with `batchItemFailures`.

use std::convert::Infallible;
use std::process::ExitCode;

use aws_lambda_events::kinesis::KinesisEvent;
use lambda::processor::Process;
use lambda::runtime;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::init_tracing();
    let function = match Process::from_env().await {
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
