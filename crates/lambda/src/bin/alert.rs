//! The alert function (see [`lambda::alerter`]): `wildrydes` → the topic
//! `TOPIC_ARN` (and `ALERT_STREAM`) when MagicPoints fall below
//! `MAGIC_POINTS_THRESHOLD`.

use std::convert::Infallible;
use std::process::ExitCode;

use lambda::alerter::AlertFunction;

#[tokio::main]
async fn main() -> ExitCode {
    lambda::runtime::serve(
        AlertFunction::from_env(),
        |function, event, budget| async move {
            Ok::<_, Infallible>(function.handle(event, budget).await)
        },
    )
    .await
}
