//! The process function (see [`lambda::processor`]): `wildrydes-summary`
//! into the table `TABLE_NAME`, with `batchItemFailures`.

use std::convert::Infallible;
use std::process::ExitCode;

use lambda::processor::Process;

#[tokio::main]
async fn main() -> ExitCode {
    lambda::runtime::serve(Process::from_env(), |function, event, budget| async move {
        Ok::<_, Infallible>(function.handle(event, budget).await)
    })
    .await
}
