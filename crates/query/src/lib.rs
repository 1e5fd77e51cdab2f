//! SQL over the archive the `archive` crate writes (the workshop's Amazon
//! Athena step), with Apache DataFusion over the same [`object_store`]
//! (S3, the embedded engine's S3, or a local directory).
//!
//! [`Session::open`] lists the archive once to learn which kinds of objects
//! it holds (JSON lines, gzip JSON lines, Parquet) and exposes them as one
//! table `wildrydes`: the status record's columns (`StatusTime` a timestamp)
//! and the partition columns `year`, `month`, `day` and `hour` from the
//! `YYYY/MM/DD/HH/` layout (a [`view::HiveView`] shows it to DataFusion's
//! listing table as Hive partitions), so that a filter on them reads only
//! the matching objects. Column names are case-insensitive as in Athena
//! (`SELECT Name` and `select name` both work; results name them in lower case).

pub mod cli;
pub mod output;
pub mod view;

use std::collections::BTreeMap;
use std::sync::Arc;

use archive::key::{partition_of, Kind};
use archive::Column;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStore;

pub use output::{write_stream, OutputFormat};
pub use view::{CountingStore, HiveView, PARTITIONS};

/// The table's name, as in the workshop.
pub const TABLE: &str = "wildrydes";

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("cannot list the archive: {0}")]
    List(#[source] object_store::Error),
    /// The statement is not SQL, names what does not exist, or could not
    /// be run; the message is DataFusion's, once (its own chain repeats it).
    #[error("{}", sql_message(.0))]
    Sql(datafusion::error::DataFusionError),
    #[error("cannot write the result: {0}")]
    Output(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        QueryError::Sql(e)
    }
}

/// A parse error as the parser words it (`sql parser error: Expected: an SQL
/// statement, found: SELEC at Line: 1, Column: 1`); any other error as
/// DataFusion displays it, with what it wraps.
fn sql_message(e: &datafusion::error::DataFusionError) -> String {
    match e.find_root() {
        datafusion::error::DataFusionError::SQL(parser, _) => parser.to_string(),
        _ => e.to_string(),
    }
}

/// The archive's objects, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub objects: BTreeMap<Kind, u64>,
    pub bytes: u64,
    /// Keys outside the `YYYY/MM/DD/HH/` layout (side objects of records
    /// that did not fit the Parquet schema, stray files): not queried.
    pub other: u64,
}

/// A DataFusion session with the table `wildrydes` over one archive.
pub struct Session {
    ctx: SessionContext,
    inventory: Inventory,
}

fn table_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Json => "wildrydes_json",
        Kind::JsonGzip => "wildrydes_gzip",
        Kind::Parquet => "wildrydes_parquet",
    }
}

fn format_of(kind: Kind) -> Arc<dyn FileFormat> {
    match kind {
        Kind::Json => Arc::new(JsonFormat::default()),
        Kind::JsonGzip => {
            Arc::new(JsonFormat::default().with_file_compression_type(FileCompressionType::GZIP))
        }
        Kind::Parquet => Arc::new(ParquetFormat::default()),
    }
}

/// The status record's columns as Arrow types (the archive's
/// [`archive::COLUMNS`]; `StatusTime` a timestamp in milliseconds without a
/// zone, as in Athena).
pub fn status_schema() -> SchemaRef {
    let fields: Vec<Field> = archive::COLUMNS
        .iter()
        .map(|(name, column)| {
            let data_type = match column {
                Column::String => DataType::Utf8,
                Column::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
                Column::Double => DataType::Float64,
                Column::Int64 => DataType::Int64,
            };
            Field::new(*name, data_type, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The schema a listing table of `kind` reads its objects with: the status
/// record's, except that Parquet's `Name` is read as a string view. The
/// archiver writes `Name` dictionary-encoded; views point into the
/// dictionary instead of copying every value, and a group-by on a short name
/// compares views inline (`wildrydes-bench archive`, 10 million records: the
/// group-by by `Name` took 0.14 s instead of 0.20 s).
fn table_schema(kind: Kind) -> SchemaRef {
    let schema = status_schema();
    if kind != Kind::Parquet {
        return schema;
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Utf8 => Arc::new(field.as_ref().clone().with_data_type(DataType::Utf8View)),
            _ => field.clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The columns of the table, as the view names them (lower case) from
/// the record's field names.
const COLUMNS: [&str; 7] = [
    "Name",
    "StatusTime",
    "Latitude",
    "Longitude",
    "Distance",
    "MagicPoints",
    "HealthPoints",
];

impl Session {
    /// Opens the archive below `prefix` in `store`.
    pub async fn open(store: Arc<dyn ObjectStore>, prefix: Path) -> Result<Session, QueryError> {
        let mut inventory = Inventory::default();
        let listed_prefix = (!prefix.as_ref().is_empty()).then_some(&prefix);
        let mut listing = store.list(listed_prefix);
        while let Some(meta) = listing.try_next().await.map_err(QueryError::List)? {
            let key = meta.location.as_ref();
            let key = match prefix.as_ref() {
                "" => key,
                p => key
                    .strip_prefix(p)
                    .and_then(|k| k.strip_prefix('/'))
                    .unwrap_or(key),
            };
            if partition_of(key).is_some() && meta.size > 0 {
                let file = key.rsplit('/').next().unwrap_or(key);
                *inventory.objects.entry(Kind::of(file)).or_default() += 1;
                inventory.bytes += meta.size;
            } else {
                inventory.other += 1;
            }
        }
        // DataFusion's settings can be tuned from the environment
        // (`DATAFUSION_EXECUTION_TARGET_PARTITIONS=4`, ...); the default
        // target partitions are the machine's cores.
        let config = SessionConfig::from_env()?.with_information_schema(true);
        // No list-files cache: it is keyed by the table's path alone (the
        // three kinds' tables share "") and would hide objects written
        // since the first query (the prompt); a filter on the partitions
        // lists only their prefix anyway.
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let mut kinds: Vec<Kind> = inventory.objects.keys().copied().collect();
        if kinds.is_empty() {
            // An empty archive is an empty table.
            kinds.push(Kind::Json);
        }
        let mut selects = Vec::new();
        for kind in kinds {
            let url =
                ListingTableUrl::parse(format!("wildrydes-{kind:?}://archive/").to_lowercase())?;
            let view = HiveView::new(store.clone(), prefix.clone(), kind);
            ctx.register_object_store(url.object_store().as_ref(), Arc::new(view));
            let partitions = PARTITIONS
                .iter()
                .map(|p| ((*p).to_owned(), DataType::Int32))
                .collect();
            let options = ListingOptions::new(format_of(kind))
                .with_file_extension(kind.extension())
                .with_table_partition_cols(partitions);
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(table_schema(kind));
            ctx.register_table(table_name(kind), Arc::new(ListingTable::try_new(config)?))?;
            let columns: Vec<String> = COLUMNS
                .iter()
                .map(|c| format!("\"{c}\" AS {}", c.to_lowercase()))
                .chain(PARTITIONS.iter().map(|p| (*p).to_owned()))
                .collect();
            selects.push(format!(
                "SELECT {} FROM {}",
                columns.join(", "),
                table_name(kind)
            ));
        }
        let view = format!("CREATE VIEW {TABLE} AS {}", selects.join(" UNION ALL "));
        ctx.sql(&view).await?;
        Ok(Session { ctx, inventory })
    }

    /// What the archive held when it was opened.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The DataFusion context (more tables, settings).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one SQL statement and streams its result.
    pub async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream, QueryError> {
        let df = self.ctx.sql(sql).await?;
        Ok(df.execute_stream().await?)
    }

    /// Runs one SQL statement and collects its result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        Ok(self.ctx.sql(sql).await?.collect().await?)
    }
}
