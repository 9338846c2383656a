//! Client authentication of the PostgreSQL listener: trust, or SCRAM-SHA-256 (and
//! SCRAM-SHA-256-PLUS, channel binding `tls-server-end-point`, on TLS connections when the
//! certificate allows it) on pgwire's SCRAM implementation and `AuthDriver`.
//!
//! Owns: the user table ([`Users`]: each name's SCRAM verifier, computed once at startup from
//! a password with a random 16-byte salt and 4096 iterations, or given as a PostgreSQL verifier
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), the mock verifiers that make an
//! unknown user look exactly like a known one with a wrong password (a stable salt per name,
//! keyed by a per-process random key, as PostgreSQL's `scram_mock_salt`), and the startup
//! handler that runs the exchange before the connection's session is created.
//!
//! Invariants: no plaintext password is kept or compared (the handshake checks the client's
//! proof against StoredKey); a failed login is the FATAL `28P01` `password authentication
//! failed for user "NAME"` whether or not NAME exists, and closes the connection; the session
//! is created only after authentication succeeded, for the user of the startup message.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::Sink;
use pgwire::api::auth::mechanism::{AuthMechanism, AuthMechanismFactory};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth, ScramSecret};
use pgwire::api::auth::{
    protocol_negotiation, save_startup_parameters_to_metadata, AuthDriver, AuthOutcome, AuthSource,
    DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::{ClientInfo, METADATA_USER};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Startup;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// PBKDF2 iterations of the verifiers computed from passwords (PostgreSQL's default
/// `scram_iterations`).
pub const SCRAM_ITERATIONS: usize = 4096;

/// Bytes of salt in a computed verifier (PostgreSQL's `SCRAM_DEFAULT_SALT_LEN`).
const SALT_LEN: usize = 16;

/// The prefix marking a password that is already a SCRAM-SHA-256 verifier.
const VERIFIER_PREFIX: &str = "SCRAM-SHA-256$";

/// A user table that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("a PostgreSQL user name must not be empty")]
    EmptyName,
    #[error("PostgreSQL user \"{0}\" has an empty password")]
    EmptyPassword(String),
    #[error("PostgreSQL user \"{0}\" is configured more than once")]
    Duplicate(String),
    #[error("PostgreSQL user \"{user}\": not a SCRAM-SHA-256 verifier ({why}); expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")]
    BadVerifier { user: String, why: &'static str },
    #[error("the system random number generator failed")]
    Random,
}

/// How the PostgreSQL listener authenticates clients.
#[derive(Debug, Default)]
pub enum Auth {
    /// Every client is let in as the user it names (PostgreSQL's `trust`).
    #[default]
    Trust,
    /// SCRAM-SHA-256 against these users.
    ScramSha256(Users),
}

/// One user's SCRAM-SHA-256 verifier, what PostgreSQL keeps in `pg_authid.rolpassword`.
#[derive(Clone, PartialEq, Eq)]
struct Verifier {
    salt: Vec<u8>,
    iterations: usize,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    fn from_salted_password(salt: Vec<u8>, password: &str, iterations: usize) -> Verifier {
        let salted = gen_salted_password(password, &salt, iterations);
        let (stored_key, server_key) = keys(&salted);
        Verifier {
            salt,
            iterations,
            stored_key,
            server_key,
        }
    }

    /// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts).
    fn parse(user: &str, text: &str) -> Result<Verifier, AuthError> {
        let bad = |why| AuthError::BadVerifier {
            user: user.to_string(),
            why,
        };
        let body = text.strip_prefix(VERIFIER_PREFIX).ok_or(bad("no prefix"))?;
        let (head, keys) = body.split_once('$').ok_or(bad("no '$' before the keys"))?;
        let (iterations, salt) = head.split_once(':').ok_or(bad("no iteration count"))?;
        let (stored, server) = keys.split_once(':').ok_or(bad("no ServerKey"))?;
        let iterations: usize = iterations
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(bad("iteration count is not a positive number"))?;
        let decode = |s: &str, why| STANDARD.decode(s).map_err(|_| bad(why));
        let salt = decode(salt, "salt is not base64")?;
        let stored_key = decode(stored, "StoredKey is not base64")?;
        let server_key = decode(server, "ServerKey is not base64")?;
        if salt.is_empty() {
            return Err(bad("empty salt"));
        }
        if stored_key.len() != 32 || server_key.len() != 32 {
            return Err(bad("StoredKey and ServerKey must be 32 bytes"));
        }
        Ok(Verifier {
            salt,
            iterations,
            stored_key,
            server_key,
        })
    }

    fn secret(&self) -> ScramSecret {
        ScramSecret::Verifier {
            salt: self.salt.clone(),
            iterations: self.iterations,
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
        }
    }
}

/// StoredKey and ServerKey of a salted password (RFC 5802).
fn keys(salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let key = hmac::Key::new(hmac::HMAC_SHA256, salted_password);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = ring::digest::digest(&ring::digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    (stored_key.as_ref().to_vec(), server_key.as_ref().to_vec())
}

/// The users SCRAM-SHA-256 lets in, with their verifiers.
pub struct Users {
    by_name: HashMap<String, Verifier>,
    /// Keys the mock verifiers of names not in `by_name`.
    mock_key: Box<hmac::Key>,
}

impl Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// A table of `(name, password)` pairs. A password starting with `SCRAM-SHA-256$` is taken
    /// as a verifier, as PostgreSQL's `CREATE ROLE ... PASSWORD` does; any other is salted and
    /// hashed here (after SASLprep), and only its verifier kept.
    pub fn new<N, P>(users: impl IntoIterator<Item = (N, P)>) -> Result<Users, AuthError>
    where
        N: Into<String>,
        P: AsRef<str>,
    {
        let rng = SystemRandom::new();
        let mut by_name = HashMap::new();
        for (name, password) in users {
            let name: String = name.into();
            let password = password.as_ref();
            if name.is_empty() {
                return Err(AuthError::EmptyName);
            }
            if password.is_empty() {
                return Err(AuthError::EmptyPassword(name));
            }
            let verifier = if password.starts_with(VERIFIER_PREFIX) {
                Verifier::parse(&name, password)?
            } else {
                let mut salt = vec![0u8; SALT_LEN];
                rng.fill(&mut salt).map_err(|_| AuthError::Random)?;
                Verifier::from_salted_password(salt, password, SCRAM_ITERATIONS)
            };
            if by_name.insert(name.clone(), verifier).is_some() {
                return Err(AuthError::Duplicate(name));
            }
        }
        let mut key = [0u8; 32];
        rng.fill(&mut key).map_err(|_| AuthError::Random)?;
        Ok(Users {
            by_name,
            mock_key: Box::new(hmac::Key::new(hmac::HMAC_SHA256, &key)),
        })
    }

    /// The user names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The verifier of `user`, or for a name not in the table a mock one: the same salt on
    /// every attempt, keys no password matches.
    fn verifier(&self, user: &str) -> Verifier {
        if let Some(v) = self.by_name.get(user) {
            return v.clone();
        }
        let derive = |label: &str| {
            let mut ctx = hmac::Context::with_key(&self.mock_key);
            ctx.update(label.as_bytes());
            ctx.update(&[0]);
            ctx.update(user.as_bytes());
            ctx.sign().as_ref().to_vec()
        };
        let mut salt = derive("salt");
        salt.truncate(SALT_LEN);
        Verifier {
            salt,
            iterations: SCRAM_ITERATIONS,
            stored_key: derive("stored key"),
            server_key: derive("server key"),
        }
    }
}

/// pgwire's view of the user table.
#[derive(Debug)]
struct Source(Arc<Users>);

#[async_trait]
impl AuthSource for Source {
    /// Never used: SCRAM asks for [`AuthSource::get_scram_secret`], and no other method is
    /// offered.
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        Ok((
            self.0.verifier(login.user().unwrap_or_default()).secret(),
            None,
        ))
    }
}

/// The server-wide authentication state every connection's startup uses.
pub(crate) enum Authenticator {
    Trust,
    Scram(Box<Scram>),
}

pub(crate) struct Scram {
    driver: AuthDriver<Arc<DefaultServerParameterProvider>>,
    /// SCRAM-SHA-256 alone: plaintext connections, and TLS ones without channel binding.
    plain: ScramAuth,
    /// SCRAM-SHA-256-PLUS and SCRAM-SHA-256, offered on TLS connections.
    plus: Option<ScramAuth>,
}

impl Authenticator {
    /// `cert_pem`: the TLS server certificate channel binding is computed from.
    pub(crate) fn new(auth: Auth, cert_pem: Option<&[u8]>) -> Authenticator {
        let users = match auth {
            Auth::Trust => return Authenticator::Trust,
            Auth::ScramSha256(users) => Arc::new(users),
        };
        let plain = ScramAuth::new(Arc::new(Source(Arc::clone(&users))));
        let plus = cert_pem.and_then(|pem| {
            let mut plus = ScramAuth::new(Arc::new(Source(Arc::clone(&users))));
            match plus.configure_certificate(pem) {
                Ok(()) => Some(plus),
                Err(e) => {
                    tracing::warn!(error = %e, "no SCRAM-SHA-256-PLUS (channel binding) for this certificate; TLS clients get SCRAM-SHA-256");
                    None
                }
            }
        });
        let driver = AuthDriver::new(Arc::new(DefaultServerParameterProvider::default()));
        Authenticator::Scram(Box::new(Scram {
            driver,
            plain,
            plus,
        }))
    }

    /// Whether TLS connections are offered SCRAM-SHA-256-PLUS.
    pub(crate) fn channel_binding(&self) -> bool {
        matches!(self, Authenticator::Scram(s) if s.plus.is_some())
    }
}

impl Scram {
    fn mechanism(&self, secure: bool) -> Box<dyn AuthMechanism> {
        match &self.plus {
            Some(plus) if secure => plus.create(),
            _ => self.plain.create(),
        }
    }
}

/// A connection's startup: authenticates, then lets `inner` (whose own startup is trust) set
/// the connection up in its `post_startup`.
pub(crate) struct StartupAuth<H> {
    auth: Arc<Authenticator>,
    inner: Arc<H>,
}

impl<H> StartupAuth<H> {
    pub(crate) fn new(auth: Arc<Authenticator>, inner: Arc<H>) -> StartupAuth<H> {
        StartupAuth { auth, inner }
    }
}

#[async_trait]
impl<H: NoopStartupHandler> StartupHandler for StartupAuth<H> {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let scram = match &*self.auth {
            Authenticator::Trust => return self.inner.on_startup(client, message).await,
            Authenticator::Scram(scram) => scram,
        };
        let step = match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let mechanism = scram.mechanism(client.is_secure());
                scram.driver.begin_authentication(client, mechanism).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(m) => {
                scram.driver.advance_authentication(client, m).await
            }
            _ => return Ok(()),
        };
        match step {
            Ok(AuthOutcome::InProgress) => Ok(()),
            Ok(AuthOutcome::Authenticated { final_message, .. }) => {
                // AuthenticationOk, parameters, BackendKeyData (the connection registered for
                // CancelRequest) and ReadyForQuery; the next message is read only after the
                // session below exists.
                scram
                    .driver
                    .complete_authentication(client, final_message)
                    .await?;
                // `inner` reads the user and database from the client's metadata, not from
                // the message.
                let startup = PgWireFrontendMessage::Startup(Startup::default());
                self.inner.post_startup(client, startup).await
            }
            Err(e) => Err(refusal(client, e)),
        }
    }
}

/// The error a failed authentication is answered with (FATAL: the connection is closed).
fn refusal<C: ClientInfo>(client: &C, e: PgWireError) -> PgWireError {
    let user = client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_default();
    let peer = client.socket_addr();
    match e {
        PgWireError::InvalidPassword(_) => {
            tracing::warn!(%user, %peer, "password authentication failed");
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28P01".into(),
                format!("password authentication failed for user \"{user}\""),
            )))
        }
        other => {
            tracing::warn!(%user, %peer, error = %other, "authentication failed");
            other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pencil` with salt `0123456789abcdef`, 4096 iterations, computed independently (Python's
    /// hashlib.pbkdf2_hmac and hmac, RFC 5802's formulas).
    const PENCIL: &str = "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$nQpbZ77WudtqufPwikHXGRt6g2QJ4zns8bZLw273DRM=:jn2amWP1q1h+jgjy0YTO14S6/F02SV7taipOeB7ef20=";

    #[test]
    fn computed_verifiers_match_an_independent_computation() {
        let computed = Verifier::from_salted_password(b"0123456789abcdef".to_vec(), "pencil", 4096);
        assert_eq!(computed, Verifier::parse("u", PENCIL).unwrap());
        let other = Verifier::from_salted_password(b"0123456789abcdef".to_vec(), "pencil2", 4096);
        assert_ne!(other, computed);
    }

    #[test]
    fn passwords_get_fresh_salts_and_verifiers_are_taken_as_given() {
        let users = Users::new([("a", "same"), ("b", "same"), ("c", PENCIL)]).unwrap();
        assert_eq!(users.names(), ["a", "b", "c"]);
        let (a, b) = (users.verifier("a"), users.verifier("b"));
        assert_eq!(a.salt.len(), SALT_LEN);
        assert_eq!(a.iterations, SCRAM_ITERATIONS);
        assert_ne!(a.salt, b.salt, "a random salt per user");
        assert_ne!(a.stored_key, b.stored_key);
        assert_eq!(
            a,
            Verifier::from_salted_password(a.salt.clone(), "same", 4096)
        );
        assert_eq!(users.verifier("c"), Verifier::parse("c", PENCIL).unwrap());
        // Nothing secret in Debug output.
        let shown = format!("{users:?} {a:?}");
        assert!(
            !shown.contains("same") && !shown.contains("stored"),
            "{shown}"
        );
    }

    #[test]
    fn bad_user_tables_are_refused_by_name() {
        let err = |users: Vec<(&str, &str)>| Users::new(users).unwrap_err().to_string();
        assert!(err(vec![("", "x")]).contains("must not be empty"));
        assert_eq!(
            err(vec![("bob", "")]),
            "PostgreSQL user \"bob\" has an empty password"
        );
        assert!(
            err(vec![("bob", "x"), ("bob", "y")]).contains("\"bob\" is configured more than once")
        );
        for bad in [
            "SCRAM-SHA-256$",
            "SCRAM-SHA-256$4096:c2FsdA==",
            "SCRAM-SHA-256$0:c2FsdA==$a2V5:a2V5",
            "SCRAM-SHA-256$4096:!!$a2V5:a2V5",
            "SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5",
        ] {
            let e = err(vec![("carol", bad)]);
            assert!(
                e.starts_with("PostgreSQL user \"carol\": not a SCRAM-SHA-256 verifier"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn unknown_users_get_stable_mock_verifiers() {
        let users = Users::new([("postgres", "secret")]).unwrap();
        let ghost = users.verifier("ghost");
        assert_eq!(
            ghost,
            users.verifier("ghost"),
            "the same salt on every attempt"
        );
        assert_eq!(ghost.salt.len(), SALT_LEN);
        assert_eq!(ghost.iterations, SCRAM_ITERATIONS);
        assert_eq!(ghost.stored_key.len(), 32);
        assert_ne!(ghost.salt, users.verifier("ghost2").salt);
        assert_ne!(ghost, users.verifier("postgres"));
        // Another process (another key) mocks the name differently.
        let again = Users::new([("postgres", "secret")]).unwrap();
        assert_ne!(ghost.salt, again.verifier("ghost").salt);
    }
}
