//! The archive's Firehose layout seen as Hive partitions, so that
//! DataFusion's listing table derives `year`, `month`, `day` and `hour` from
//! the keys and prunes objects by them: a read-only [`ObjectStore`] that shows
//! `PREFIX/2026/12/02/06/wildrydes-1-...` as
//! `year=2026/month=12/day=2/hour=6/wildrydes-1-...`, and only the objects of
//! one [`Kind`] (JSON, gzip JSON or Parquet). Other keys (side objects,
//! stray files) are not shown. Values are unpadded, as DataFusion writes the
//! prefix of a filter such as `hour = 6`.
//!
//! [`CountingStore`] counts the objects read through it (tests, benchmarks,
//! `--stats`).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use archive::key::{partition_of, Kind};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// The partition columns, in key order.
pub const PARTITIONS: [&str; 4] = ["year", "month", "day", "hour"];
const WIDTHS: [usize; 4] = [4, 2, 2, 2];

/// See the module documentation.
#[derive(Debug)]
pub struct HiveView {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    kind: Kind,
}

impl fmt::Display for HiveView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HiveView({:?} of {}/{})",
            self.kind, self.inner, self.prefix
        )
    }
}

impl HiveView {
    pub fn new(inner: Arc<dyn ObjectStore>, prefix: Path, kind: Kind) -> Self {
        Self {
            inner,
            prefix,
            kind,
        }
    }

    fn join(&self, rest: &str) -> Path {
        match (self.prefix.as_ref(), rest) {
            ("", rest) => Path::from(rest),
            (prefix, "") => Path::from(prefix),
            (prefix, rest) => Path::from(format!("{prefix}/{rest}")),
        }
    }

    /// The real path of a virtual one (a partition prefix or a file);
    /// `None` if it cannot exist.
    fn to_real(&self, location: Option<&Path>) -> Option<Path> {
        let Some(location) = location else {
            return Some(self.prefix.clone());
        };
        let mut real = Vec::new();
        for (i, part) in location.parts().enumerate() {
            let part = part.as_ref().to_owned();
            if i < PARTITIONS.len() {
                let value = part.strip_prefix(PARTITIONS[i])?.strip_prefix('=')?;
                let value: u32 = value.parse().ok()?;
                real.push(format!("{value:0width$}", width = WIDTHS[i]));
            } else if i == PARTITIONS.len() {
                real.push(part);
            } else {
                return None;
            }
        }
        Some(self.join(&real.join("/")))
    }

    /// The key below the prefix.
    fn relative<'a>(&self, real: &'a Path) -> Option<&'a str> {
        let prefix = self.prefix.as_ref();
        let real = real.as_ref();
        if prefix.is_empty() {
            return Some(real);
        }
        real.strip_prefix(prefix)?.strip_prefix('/')
    }

    /// The virtual path of a real object, if it is one of this view's.
    fn to_virtual(&self, real: &Path) -> Option<Path> {
        let key = self.relative(real)?;
        let values = partition_of(key)?;
        let file = key.rsplit('/').next()?;
        if Kind::of(file) != self.kind {
            return None;
        }
        let mut parts: Vec<String> = PARTITIONS
            .iter()
            .zip(values)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        parts.push(file.to_owned());
        Some(Path::from(parts.join("/")))
    }

    /// The virtual path of a real partition directory (depth 1 to 4).
    fn dir_to_virtual(&self, real: &Path) -> Option<Path> {
        let key = self.relative(real)?;
        let mut parts = Vec::new();
        for (i, part) in key.split('/').enumerate() {
            let width = *WIDTHS.get(i)?;
            if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            parts.push(format!("{}={}", PARTITIONS[i], part.parse::<u32>().ok()?));
        }
        Some(Path::from(parts.join("/")))
    }

    fn meta(&self, mut meta: ObjectMeta) -> Option<ObjectMeta> {
        meta.location = self.to_virtual(&meta.location)?;
        Some(meta)
    }
}

fn not_found(location: &Path) -> object_store::Error {
    object_store::Error::NotFound {
        path: location.to_string(),
        source: "not an object of the archive's YYYY/MM/DD/HH layout".into(),
    }
}

fn read_only() -> object_store::Error {
    object_store::Error::NotSupported {
        source: "the archive is read-only for queries".into(),
    }
}

#[async_trait]
impl ObjectStore for HiveView {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(read_only())
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(read_only())
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let real = self
            .to_real(Some(location))
            .ok_or_else(|| not_found(location))?;
        let mut result = self.inner.get_opts(&real, options).await?;
        result.meta.location = location.clone();
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let real = self
            .to_real(Some(location))
            .ok_or_else(|| not_found(location))?;
        self.inner.get_ranges(&real, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let Some(real) = self.to_real(prefix) else {
            return futures_util::stream::empty().boxed();
        };
        let view = HiveView::new(self.inner.clone(), self.prefix.clone(), self.kind);
        self.inner
            .list(Some(&real))
            .filter_map(move |meta| std::future::ready(meta.map(|m| view.meta(m)).transpose()))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let Some(real) = self.to_real(prefix) else {
            return Ok(ListResult {
                common_prefixes: Vec::new(),
                objects: Vec::new(),
            });
        };
        let listed = self.inner.list_with_delimiter(Some(&real)).await?;
        Ok(ListResult {
            common_prefixes: listed
                .common_prefixes
                .iter()
                .filter_map(|dir| self.dir_to_virtual(dir))
                .collect(),
            objects: listed
                .objects
                .into_iter()
                .filter_map(|m| self.meta(m))
                .collect(),
        })
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(read_only())
    }
}

/// Counts the reads (GET requests, ranges included) of each object through
/// it; everything else passes through.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    reads: Mutex<BTreeMap<String, u64>>,
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            reads: Mutex::new(BTreeMap::new()),
        }
    }

    /// The objects read so far, with their read requests.
    pub fn reads(&self) -> BTreeMap<String, u64> {
        self.reads.lock().expect("not poisoned").clone()
    }

    /// Forgets the reads so far.
    pub fn reset(&self) {
        self.reads.lock().expect("not poisoned").clear();
    }

    fn count(&self, location: &Path, n: u64) {
        *self
            .reads
            .lock()
            .expect("not poisoned")
            .entry(location.to_string())
            .or_default() += n;
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        options: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, options).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        options: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, options).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !options.head {
            self.count(location, 1);
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.count(location, ranges.len() as u64);
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
