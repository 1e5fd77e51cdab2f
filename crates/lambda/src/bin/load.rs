//! The load function (see [`lambda::loader`]): ride files created in the
//! data bucket into the table `TABLE_NAME`.

use std::process::ExitCode;

use lambda::loader::Load;

#[tokio::main]
async fn main() -> ExitCode {
    lambda::runtime::serve(Load::from_env(), |function, event, budget| {
        function.handle(event, budget)
    })
    .await
}
