//! Waking outbox workers: LISTEN on a dedicated connection for the
//! notification an effect request's transaction sends when it commits.
//!
//! Notifications are a hint, never the only path: they are lost while the
//! connection is down (it reconnects on the next wait), and a transaction-
//! pooling proxy drops them altogether. Workers therefore also look on a
//! timer; [`OutboxListener::self_test`] tells them at startup whether
//! notifications arrive at all.

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::repositories::outbox::OUTBOX_CHANNEL;
use crate::{Result, Store};

pub struct OutboxListener {
    listener: PgListener,
}

impl Store {
    pub async fn outbox_listener(&self) -> Result<OutboxListener> {
        let mut listener = PgListener::connect_with(self.pool()).await?;
        listener.listen(OUTBOX_CHANNEL).await?;
        Ok(OutboxListener { listener })
    }
}

impl OutboxListener {
    /// Waits up to `timeout` for a notification; true if one came. A lost
    /// connection is re-established by the next call.
    pub async fn wait(&mut self, timeout: Duration) -> Result<bool> {
        match tokio::time::timeout(timeout, self.listener.try_recv()).await {
            Err(_) => Ok(false),
            Ok(Ok(Some(_))) => Ok(true),
            // The connection closed; the next call reconnects and listens again.
            Ok(Ok(None)) => Ok(false),
            Ok(Err(e)) => Err(e.into()),
        }
    }

    /// Sends a notification to itself and waits for it: false means
    /// notifications do not arrive here and only polling will find work.
    pub async fn self_test(&mut self, store: &Store) -> Result<bool> {
        sqlx::query("SELECT pg_notify($1, 'self-test')")
            .bind(OUTBOX_CHANNEL)
            .execute(store.pool())
            .await?;
        self.wait(Duration::from_secs(2)).await
    }
}
