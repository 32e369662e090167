//! Storage on SQLite or Postgres, chosen by the database URL at run time.
//!
//! One set of portable SQL (`$n` placeholders, `ON CONFLICT`, `RETURNING`)
//! runs on both through sqlx's `Any` driver. Dialects differ only in their
//! migrations and in how a write transaction starts.

mod agents;
pub mod api_key;
mod api_keys;
mod attachments;
mod audit;
mod auth;
mod bot;
mod checkpoint;
pub use checkpoint::Checkpoints;
mod consent;
mod contacts;
mod conversations;
pub mod csv_io;
pub mod group_commit;
mod guests;
mod intake;
mod leases;
mod live;
mod message_log;
mod outbox;
pub mod password;
mod privacy;
mod relay;
pub mod scratch;
mod session_policy;
mod sessions;
mod starts;
pub mod token_cipher;

pub use api_keys::{ApiKeyInfo, KeyGrant, KeyRefusal, VerifiedKey, MAX_KEY_DAYS};
pub use attachments::{MediaFile, MediaFileInfo, MEDIA_CHUNK_BYTES};
pub use audit::{AuditCtx, AuditEntry, AuditFilter};
pub use auth::{random_token, SignInError, WebSession};
pub use bot::BotConversation;
pub use consent::OptOut;
pub use contacts::ContactQuery;
pub use conversations::{close_reason, AppendedLine, ConversationQuery};
pub use domain::model::Message;
pub use intake::{Acceptance, Intake, LineStatus};
pub use leases::TaskReport;
pub use live::SessionChange;
pub use outbox::{
    AttemptNote, DeadJob, Job, MessageRef, NewJob, OutboxStats, Outcome, RetryPolicy,
};
pub use privacy::Pruned;
pub use relay::{Attachment, NewMessage, RelaySession, RelayState};
pub use session_policy::SessionPolicy;
pub use sessions::{SessionQuery, UpsertOutcome};
pub use starts::{AttemptStatus, StartAttempt};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};
use std::sync::Arc;
use std::time::Duration;

use domain::error::DomainError;
use domain::phone::PhoneRegion;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// How every SQLite connection is set up (the benchmark's floor uses the
/// same): write-ahead logging lets readers run beside the one writer; a
/// write from outside this process still waits for the lock.
pub const SQLITE_PRAGMAS: [&str; 5] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    // The backstop: a thread copies the log back ([`Checkpoints`]).
    "PRAGMA wal_autocheckpoint = 10000",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, String> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err("DATABASE_URL must start with sqlite: or postgres:".into())
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A Postgres connection used this recently is handed out without a ping.
pub const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// How a pool of `connections` is set up (the benchmark's floor uses the
/// same). SQLite: the pragmas on every connection. sqlx pings an idle
/// connection before it hands it out; on Postgres that is a round trip to
/// the server per query or transaction (not a statement: the server's log
/// does not show it). Only a connection idle for longer is pinged, as
/// sqlx's `PoolOptions::before_acquire` documents: under load none is, and
/// one broken by a server restart while idle is still replaced before use.
pub fn pool_options(backend: Backend, connections: u32) -> AnyPoolOptions {
    let options = AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(connections)
        .test_before_acquire(false);
    match backend {
        // A file in this process cannot go away under a connection.
        Backend::Sqlite => options.after_connect(|conn, _| {
            Box::pin(async move {
                for pragma in SQLITE_PRAGMAS {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        }),
        Backend::Postgres => options.before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= TRUSTED_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        }),
    }
}

/// Settings that business rules depend on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    /// Region for phone numbers written without a country code.
    pub phone_region: PhoneRegion,
}

#[derive(Clone)]
pub struct Store {
    /// Reads (and, on Postgres, everything).
    pool: AnyPool,
    /// Writes. On SQLite one connection: writers wait their turn in order
    /// here instead of in SQLite's busy handler, which sleeps up to 100 ms
    /// between tries and lets a free lock sit idle. On Postgres the same pool.
    writer: AnyPool,
    backend: Backend,
    rules: Rules,
    /// SQLite: the checkpoint thread, running while a clone is held or
    /// until [`Store::close`].
    checkpoints: Option<Arc<Checkpoints>>,
}

impl Store {
    /// Connects to the database; for SQLite the file (and its directory) is
    /// created if absent.
    pub async fn connect(url: &str, rules: Rules) -> Result<Store, DomainError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).map_err(DomainError::Storage)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_with_create(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = |connections| pool_options(backend, connections);
        let (pool, writer, checkpoints) = match backend {
            Backend::Sqlite => {
                let writer = options(1).connect(&url).await?;
                let checkpoints = Arc::new(Checkpoints::start(&url));
                (options(8).connect(&url).await?, writer, Some(checkpoints))
            }
            Backend::Postgres => {
                let pool = options(16).connect(&url).await?;
                (pool.clone(), pool, None)
            }
        };
        Ok(Store {
            pool,
            writer,
            backend,
            rules,
            checkpoints,
        })
    }

    pub async fn migrate(&self) -> Result<(), DomainError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.writer)
            .await
            .map_err(|e| DomainError::Storage(format!("migration failed: {e}")))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// Readiness: the database answers a query.
    pub async fn ping(&self) -> Result<(), DomainError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; on SQLite also stops the checkpoint thread
    /// and waits for it, so nothing holds or opens the file afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
        if let Some(checkpoints) = self.checkpoints.clone() {
            let _ = tokio::task::spawn_blocking(move || checkpoints.stop()).await;
        }
    }

    /// Starts a transaction that will write. SQLite takes the write lock up
    /// front, so a transaction that reads first cannot fail on upgrade.
    pub async fn begin_write(&self) -> Result<WriteTx, DomainError> {
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(tx)
    }
}

/// A write transaction ([`Store::begin_write`]), for callers that write
/// several things in one.
pub type WriteTx = sqlx::Transaction<'static, sqlx::Any>;

/// Rows one multi-row statement writes at most (a few values each, well
/// under SQLite's and Postgres' limits on parameters).
pub(crate) const ROWS_PER_STATEMENT: usize = 256;

/// The `VALUES` rows of a multi-row insert: `rows` rows of `columns`
/// parameters each, numbered from `$2` (`$1` is the value every row shares),
/// each row ending with `tail`, e.g. `($2, $3, $1), ($4, $5, $1)`.
pub(crate) fn values_rows(rows: usize, columns: usize, tail: &str) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (0..columns)
                .map(|c| format!("${}", 2 + row * columns + c))
                .collect();
            format!("({}, {tail})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `count` numbered parameters from `$first`, for an `IN (...)` list: e.g.
/// `placeholders(3, 2)` is `$3, $4`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A statement whose text depends on how many rows it names is kept in the
/// connection's cache of prepared statements only for one row (the common
/// case): the other sizes would push out the statements every request uses.
pub(crate) fn cacheable(rows: usize) -> bool {
    rows == 1
}

fn sqlite_url_with_create(url: &str) -> Result<String, DomainError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(url.to_string());
    }
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| {
                DomainError::Storage(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// The current time in milliseconds, as the store records it.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Time-ordered (UUID v7, monotonic within the process): lines written in
/// the same millisecond still sort in the order they were made.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// RFC 3339 with milliseconds, UTC: the API's time format.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A column holding one of an enum's words (`named_enum!`); another word
/// is a decode error naming the column.
pub(crate) fn word<T>(row: &AnyRow, col: &str) -> Result<T, sqlx::Error>
where
    T: std::str::FromStr<Err = domain::names::UnknownName>,
{
    let text: String = row.try_get(col)?;
    text.parse()
        .map_err(|e: domain::names::UnknownName| sqlx::Error::ColumnDecode {
            index: col.to_string(),
            source: Box::new(e),
        })
}

pub(crate) fn opt_time(row: &AnyRow, col: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(format_ms))
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Page number and size, validated.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    pub const MAX_PER_PAGE: u32 = 100;
    pub const DEFAULT_PER_PAGE: u32 = 25;

    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Paging, domain::FieldError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(domain::FieldError::new("page", "must be 1 or more"));
        }
        if per_page == 0 || per_page > Self::MAX_PER_PAGE {
            return Err(domain::FieldError::new(
                "perPage",
                format!("must be between 1 and {}", Self::MAX_PER_PAGE),
            ));
        }
        Ok(Paging { page, per_page })
    }

    pub(crate) fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn paging_limits() {
        assert!(Paging::new(Some(0), None).is_err());
        assert_eq!(Paging::new(None, Some(101)).unwrap_err().field, "perPage");
        assert_eq!(Paging::new(Some(3), Some(10)).unwrap().offset(), 20);
    }

    #[test]
    fn placeholders_and_values_rows_number_their_parameters() {
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(placeholders(1, 1), "$1");
        assert_eq!(values_rows(2, 2, "$1"), "($2, $3, $1), ($4, $5, $1)");
    }

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::from_url("sqlite://x.db"), Ok(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgres://h/db"), Ok(Backend::Postgres));
        assert!(Backend::from_url("mysql://h/db").is_err());
    }
}
