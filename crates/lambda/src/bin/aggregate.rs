//! The aggregate function (see [`lambda::aggregator`]): Kinesis tumbling
//! windows on `wildrydes`, summaries to `SUMMARY_STREAM`.

use std::process::ExitCode;

use lambda::aggregator::Aggregate;

#[tokio::main]
async fn main() -> ExitCode {
    lambda::runtime::serve(Aggregate::from_env(), |function, event, budget| {
        function.handle(event, budget)
    })
    .await
}
