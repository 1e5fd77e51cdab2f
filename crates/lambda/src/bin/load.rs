//! The load function (see [`lambda::loader`]): ride files created in the
//! data bucket into the table `TABLE_NAME`.

use std::process::ExitCode;

use aws_lambda_events::s3::S3Event;
use lambda::loader::Load;
use lambda::runtime;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> ExitCode {
    runtime::init_tracing();
    let function = match Load::from_env().await {
        Ok(function) => function,
        Err(error) => return runtime::cannot_start(error),
    };
    let function = &function;
    let result = lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let budget = runtime::budget(&event.context);
        function.handle(event.payload, budget).await
    }))
    .await;
    runtime::exit(result)
}
