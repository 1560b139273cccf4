//! `serve-sql`: the Postgres wire protocol over the ledger, for psql and
//! BI tools. One user, MD5 password authentication with a fresh salt per
//! connection, the read-only rules of [`crate::parse`], and each statement
//! on the ledger's latest commit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::Sink;
use futures::sink::SinkExt;
use pgwire::api::auth::md5pass::hash_md5_password;
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, METADATA_USER, PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::net::TcpListener;

use crate::bounds::{ACCEPT_RETRY_MS, CONNECTIONS_MAX};
use crate::error::Error;
use crate::pg::QueryService;
use crate::source::Source;

/// Who may connect, and where to listen.
#[derive(Clone)]
pub struct ServeConfig {
    /// The address to listen on (loopback unless told otherwise).
    pub listen: SocketAddr,
    /// The one user name accepted.
    pub user: String,
    /// Its password; never logged.
    pub password: String,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig").field("listen", &self.listen).field("user", &self.user).finish_non_exhaustive()
    }
}

/// Serves `source` until the process ends, calling `ready` with the
/// address listened on (the port chosen, for port 0) once it accepts
/// connections.
///
/// # Errors
/// [`Error::Runtime`] and [`Error::Listen`].
pub fn serve(source: Source, config: &ServeConfig, ready: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    let runtime = crate::engine::runtime()?;
    runtime.block_on(async {
        let listen = |source| Error::Listen { addr: config.listen, source };
        let listener = TcpListener::bind(config.listen).await.map_err(listen)?;
        ready(listener.local_addr().map_err(listen)?);
        let handlers =
            Arc::new(Handlers { queries: Arc::new(QueryService::new(source)), login: Arc::new(Login::new(config)) });
        let open = Arc::new(AtomicUsize::new(0));
        loop {
            let (socket, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait for some to close.
                    log::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                    continue;
                }
            };
            if open.fetch_add(1, Ordering::AcqRel) >= CONNECTIONS_MAX {
                open.fetch_sub(1, Ordering::AcqRel);
                log::warn!("refused a connection from {peer}: {CONNECTIONS_MAX} are open");
                continue;
            }
            let (handlers, open) = (Arc::clone(&handlers), Arc::clone(&open));
            tokio::spawn(async move {
                if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                    log::debug!("connection from {peer}: {e}");
                }
                open.fetch_sub(1, Ordering::AcqRel);
            });
        }
    })
}

/// The handlers of every connection.
struct Handlers {
    queries: Arc<QueryService>,
    login: Arc<Login>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.login)
    }
}

/// MD5 password authentication of the one user. The salt is drawn per
/// connection and kept in it, so that a captured answer cannot be replayed.
struct Login {
    user: String,
    password: String,
    parameters: DefaultServerParameterProvider,
    keys: RandomPidSecretKeyGenerator,
}

/// The salt sent to one connection.
struct Salt([u8; 4]);

impl Login {
    fn new(config: &ServeConfig) -> Self {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        Self {
            user: config.user.clone(),
            password: config.password.clone(),
            parameters,
            keys: RandomPidSecretKeyGenerator::default(),
        }
    }
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let salt = fastrand::u32(..).to_be_bytes();
                client.session_extensions().insert(Salt(salt));
                let request = Authentication::MD5Password(salt.to_vec());
                client.send(PgWireBackendMessage::Authentication(request)).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(answer) => {
                let answer = answer.into_password()?;
                let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                let salt = client.session_extensions().get::<Salt>().map_or([0; 4], |s| s.0);
                let expected = hash_md5_password(&self.user, &self.password, &salt);
                // Both compared in full, so that timing tells nothing.
                let user_ok = equal(user.as_bytes(), self.user.as_bytes());
                if !(equal(answer.password.as_bytes(), expected.as_bytes()) & user_ok) {
                    log::info!("refused a login as {user:?} from {}", client.socket_addr());
                    return Err(PgWireError::InvalidPassword(user));
                }
                let (pid, key) = self.keys.generate(client);
                client.set_pid_and_secret_key(pid, key);
                finish_authentication(client, &self.parameters).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Equality of two byte strings in time that depends on their lengths only.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_is_exact() {
        assert!(equal(b"md5abc", b"md5abc"));
        assert!(!equal(b"md5abc", b"md5abd"));
        assert!(!equal(b"md5abc", b"md5ab"));
        assert!(equal(b"", b""));
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let config =
            ServeConfig { listen: ([127, 0, 0, 1], 0).into(), user: "finance".into(), password: "s3cret".into() };
        let shown = format!("{config:?}");
        assert!(shown.contains("finance") && !shown.contains("s3cret"), "{shown}");
    }
}
