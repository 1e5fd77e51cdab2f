//! The banner `up` and `demo` print: where things are and what to type next.

/// The banner of `up`: where things are and what to type next.
pub(crate) fn banner(stack: &stack::Stack, dashboard: &str) -> String {
    let url = stack.url();
    let data = match stack.data_dir() {
        Some(dir) => format!("{} (kept across restarts)", dir.display()),
        None => "in memory (nothing is kept)".to_owned(),
    };
    format!(
        "endpoint: {url}\n\
         data:     {data}\n\
         streams:  {src} -> aggregator ({window} windows) -> {dst} -> processor -> DynamoDB table {table}\n\
         buckets:  s3://{uploads} (ride files, loaded into {table}), s3://{archive} (archive of {src}, an object every {every})\n\
         alerts:   {src} -> alert stage (MagicPoints below {threshold}, once per crossing) -> {alerts}\n\
         live map: {dashboard} (open it in a browser)\n\
         \n\
         In another terminal (from a source checkout: cargo run --release -p producer -- ...):\n\
         \x20 ./producer -endpoint {url} -name Rocinante\n\
         \x20 ./consumer -endpoint {url} -stream {dst} | jq .\n\
         \x20 ./producer -endpoint {url} -name Pegasus -low-magic      # magic runs low: alerts\n\
         \x20 ./consumer -endpoint {url} -stream {alerts}\n\
         Or for every tool at once (the binaries, aws, boto3):\n\
         \x20 export AWS_ENDPOINT_URL={url} AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local\n\
         \x20 aws kinesis list-streams\n\
         \x20 aws s3 cp rides.json s3://{uploads}/\n\
         {sql}\
         Ctrl-C stops everything.",
        src = stack::SOURCE_STREAM,
        dst = stack::SUMMARY_STREAM,
        table = process::TABLE,
        uploads = stack::UPLOADS_BUCKET,
        archive = stack::ARCHIVE_BUCKET,
        alerts = stack::ALERT_STREAM,
        threshold = alert::DEFAULT_THRESHOLD,
        window = humantime::format_duration(stack.window()),
        sql = sql_lines(&url),
        every = humantime::format_duration(stack::ARCHIVE_INTERVAL),
    )
}

/// How to query the archive (`wildrydes query` runs `wildrydes-query`).
fn sql_lines(url: &str) -> String {
    // `query` looks at the default port by itself.
    let endpoint = if url == "http://127.0.0.1:4567" {
        String::new()
    } else {
        format!(" --endpoint {url}")
    };
    format!(
        "SQL over the archive (the table wildrydes, as in Athena):\n\
         \x20 ./wildrydes query{endpoint} \"SELECT Name, SUM(Distance) FROM wildrydes GROUP BY Name\"\n"
    )
}
