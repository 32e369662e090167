use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_intrusive::sync::{Mutex, MutexGuard};

use sqlx_core::describe::Describe;
use sqlx_core::error::Error;
use sqlx_core::transaction::{
    begin_ansi_transaction_sql, commit_ansi_transaction_sql, rollback_ansi_transaction_sql,
};
use sqlx_core::Either;

use crate::connection::describe::describe;
use crate::connection::establish::EstablishParams;
use crate::connection::execute;
use crate::connection::ConnectionState;
use crate::{Sqlite, SqliteArguments, SqliteQueryResult, SqliteRow, SqliteStatement};

use super::serialize::{deserialize, serialize, SchemaName, SqliteOwnedBuf};

// Contact Manager's patch (see vendor/README.md): upstream gives each
// connection a thread of its own and reaches it through channels, two thread
// hand-offs per statement (three for BEGIN and COMMIT, whose answers are
// acknowledged). Here every command runs on the calling task, under the
// connection's lock: no thread, no channel, no hand-off. A statement blocks
// the task's thread while it runs, as a statement of an embedded database
// does; the results are collected before the call returns.

pub(crate) struct ConnectionWorker {
    /// Mutex for locking access to the database.
    pub(crate) shared: Arc<WorkerSharedState>,
}

pub(crate) struct WorkerSharedState {
    transaction_depth: AtomicUsize,
    cached_statements_size: AtomicUsize,
    pub(crate) conn: Mutex<ConnectionState>,
}

impl WorkerSharedState {
    pub(crate) fn get_transaction_depth(&self) -> usize {
        self.transaction_depth.load(Ordering::Acquire)
    }

    pub(crate) fn get_cached_statements_size(&self) -> usize {
        self.cached_statements_size.load(Ordering::Acquire)
    }
}

impl ConnectionWorker {
    pub(crate) async fn establish(params: EstablishParams) -> Result<Self, Error> {
        let conn = params.establish()?;
        Ok(Self {
            shared: Arc::new(WorkerSharedState {
                transaction_depth: AtomicUsize::new(0),
                cached_statements_size: AtomicUsize::new(0),
                // Fair: a `LockedSqliteHandle` waiting for the lock gets it
                // before the next command.
                conn: Mutex::new(conn, true),
            }),
        })
    }

    /// The connection, for one command. Only a `LockedSqliteHandle` holds
    /// it otherwise, and that borrows this connection mutably: never waits.
    async fn conn(&self) -> MutexGuard<'_, ConnectionState> {
        self.shared.conn.lock().await
    }

    fn conn_now(&self) -> Result<MutexGuard<'_, ConnectionState>, Error> {
        self.shared.conn.try_lock().ok_or(Error::WorkerCrashed)
    }

    pub(crate) async fn prepare(&mut self, query: &str) -> Result<SqliteStatement<'static>, Error> {
        let mut conn = self.conn().await;
        prepare(&mut conn, query).inspect(|_| {
            update_cached_statements_size(&conn, &self.shared.cached_statements_size)
        })
    }

    pub(crate) async fn describe(&mut self, query: &str) -> Result<Describe<Sqlite>, Error> {
        let mut conn = self.conn().await;
        describe(&mut conn, query)
    }

    /// Runs the query to its end (or to `limit` rows) and returns its
    /// results, all of them already in the channel.
    pub(crate) async fn execute(
        &mut self,
        query: &str,
        args: Option<SqliteArguments<'_>>,
        _chan_size: usize,
        persistent: bool,
        limit: Option<usize>,
    ) -> Result<flume::Receiver<Result<Either<SqliteQueryResult, SqliteRow>, Error>>, Error> {
        let (tx, rx) = flume::unbounded();
        let mut conn = self.conn().await;
        {
            let iter = match execute::iter(&mut conn, query, args, persistent) {
                Ok(iter) => iter,
                Err(e) => {
                    tx.send(Err(e)).ok();
                    return Ok(rx);
                }
            };
            let mut rows_returned = 0;
            for res in iter {
                let is_row = matches!(&res, Ok(Either::Right(_)));
                let has_error = res.is_err();
                tx.send(res).ok();
                if has_error {
                    break;
                }
                if is_row {
                    rows_returned += 1;
                    if limit.is_some_and(|limit| rows_returned >= limit) {
                        break;
                    }
                }
            }
        }
        update_cached_statements_size(&conn, &self.shared.cached_statements_size);
        Ok(rx)
    }

    pub(crate) async fn begin(
        &mut self,
        statement: Option<Cow<'static, str>>,
    ) -> Result<(), Error> {
        let mut conn = self.conn().await;
        let depth = self.shared.transaction_depth.load(Ordering::Acquire);
        let statement = match statement {
            // custom `BEGIN` statements are not allowed if we're already in
            // a transaction (we need to issue a `SAVEPOINT` instead)
            Some(_) if depth > 0 => return Err(Error::InvalidSavePointStatement),
            Some(statement) => statement,
            None => begin_ansi_transaction_sql(depth),
        };
        conn.handle.exec(statement).map(|_| {
            self.shared.transaction_depth.fetch_add(1, Ordering::Release);
        })
    }

    pub(crate) async fn commit(&mut self) -> Result<(), Error> {
        let mut conn = self.conn().await;
        self.end_transaction(&mut conn, commit_ansi_transaction_sql)
    }

    pub(crate) async fn rollback(&mut self) -> Result<(), Error> {
        let mut conn = self.conn().await;
        self.end_transaction(&mut conn, rollback_ansi_transaction_sql)
    }

    /// A dropped transaction's rollback, at once.
    pub(crate) fn start_rollback(&mut self) -> Result<(), Error> {
        let mut conn = self.conn_now()?;
        self.end_transaction(&mut conn, rollback_ansi_transaction_sql)
    }

    fn end_transaction(
        &self,
        conn: &mut ConnectionState,
        sql: fn(usize) -> Cow<'static, str>,
    ) -> Result<(), Error> {
        let depth = self.shared.transaction_depth.load(Ordering::Acquire);
        if depth == 0 {
            return Ok(());
        }
        conn.handle.exec(sql(depth)).map(|_| {
            self.shared.transaction_depth.fetch_sub(1, Ordering::Release);
        })
    }

    pub(crate) async fn ping(&mut self) -> Result<(), Error> {
        Ok(())
    }

    pub(crate) async fn deserialize(
        &mut self,
        schema: Option<SchemaName>,
        data: SqliteOwnedBuf,
        read_only: bool,
    ) -> Result<(), Error> {
        let mut conn = self.conn().await;
        deserialize(&mut conn, schema, data, read_only)
    }

    pub(crate) async fn serialize(
        &mut self,
        schema: Option<SchemaName>,
    ) -> Result<SqliteOwnedBuf, Error> {
        let mut conn = self.conn().await;
        serialize(&mut conn, schema)
    }

    pub(crate) async fn clear_cache(&mut self) -> Result<(), Error> {
        let mut conn = self.conn().await;
        conn.statements.clear();
        update_cached_statements_size(&conn, &self.shared.cached_statements_size);
        Ok(())
    }

    pub(crate) async fn unlock_db(&mut self) -> Result<MutexGuard<'_, ConnectionState>, Error> {
        Ok(self.conn().await)
    }

    /// Nothing to stop: the connection closes when its last handle drops.
    pub(crate) fn shutdown(&mut self) -> impl Future<Output = Result<(), Error>> {
        std::future::ready(Ok(()))
    }
}

fn prepare(conn: &mut ConnectionState, query: &str) -> Result<SqliteStatement<'static>, Error> {
    // prepare statement object (or checkout from cache)
    let statement = conn.statements.get(query, true)?;

    let mut parameters = 0;
    let mut columns = None;
    let mut column_names = None;

    while let Some(statement) = statement.prepare_next(&mut conn.handle)? {
        parameters += statement.handle.bind_parameter_count();

        // the first non-empty statement is chosen as the statement we pull columns from
        if !statement.columns.is_empty() && columns.is_none() {
            columns = Some(Arc::clone(statement.columns));
            column_names = Some(Arc::clone(statement.column_names));
        }
    }

    Ok(SqliteStatement {
        sql: Cow::Owned(query.to_string()),
        columns: columns.unwrap_or_default(),
        column_names: column_names.unwrap_or_default(),
        parameters,
    })
}

fn update_cached_statements_size(conn: &ConnectionState, size: &AtomicUsize) {
    size.store(conn.statements.len(), Ordering::Release);
}

