//! Throwaway databases for tests and benchmarks: a SQLite file in the temp
//! directory, or a database of its own on a Postgres server, removed again
//! by [`ScratchDb::remove`] (or, from a `Drop`, [`ScratchDb::remove_blocking`]).

use std::path::PathBuf;

/// The Postgres server that tests and benchmarks make their databases on: a
/// URL whose user may create databases (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
pub const POSTGRES_ENV: &str = "TEST_POSTGRES_URL";

/// Which database the suites that run on either use: `postgres` or unset
/// (SQLite). Scripts/test runs the relay suites once with each.
pub const DATABASE_ENV: &str = "CM_TEST_DATABASE";

#[derive(Debug, Clone)]
pub enum ScratchDb {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl ScratchDb {
    /// A new SQLite file's URL (created when first opened).
    pub fn sqlite(prefix: &str) -> ScratchDb {
        let id = uuid::Uuid::new_v4().simple();
        ScratchDb::Sqlite(std::env::temp_dir().join(format!("{prefix}-{id}.db")))
    }

    /// A new, empty database on the Postgres server of `admin_url`.
    pub async fn postgres(admin_url: &str, prefix: &str) -> Result<ScratchDb, sqlx::Error> {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::AnyConnection::connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(ScratchDb::Postgres {
            admin_url: admin_url.to_string(),
            name,
        })
    }

    /// The database that `CM_TEST_DATABASE` asks for: Postgres (on
    /// `TEST_POSTGRES_URL`, which must then be set) or SQLite.
    pub async fn from_env(prefix: &str) -> ScratchDb {
        if std::env::var(DATABASE_ENV).as_deref() != Ok("postgres") {
            return ScratchDb::sqlite(prefix);
        }
        let admin_url = std::env::var(POSTGRES_ENV)
            .unwrap_or_else(|_| panic!("{DATABASE_ENV}=postgres needs {POSTGRES_ENV}"));
        ScratchDb::postgres(&admin_url, prefix)
            .await
            .expect("create a Postgres test database")
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, ScratchDb::Postgres { .. })
    }

    /// The URL to give the product (`DATABASE_URL`).
    pub fn url(&self) -> String {
        match self {
            ScratchDb::Sqlite(path) => format!("sqlite://{}", path.display()),
            ScratchDb::Postgres { admin_url, name } => {
                let (server, _) = admin_url.rsplit_once('/').expect("URL names a database");
                format!("{server}/{name}")
            }
        }
    }

    /// Removes the file or drops the database, ending its connections.
    pub async fn remove(&self) {
        match self {
            ScratchDb::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            ScratchDb::Postgres { admin_url, name } => {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::AnyConnection::connect(admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            }
        }
    }

    /// [`ScratchDb::remove`] from synchronous code, e.g. a `Drop` inside a
    /// Tokio runtime: runs on a thread with a runtime of its own.
    pub fn remove_blocking(&self) {
        let db = self.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(db.remove())
        })
        .join();
    }
}
