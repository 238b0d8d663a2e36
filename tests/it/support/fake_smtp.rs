//! A small RFC 5321 server for tests.
//!
//! It records every accepted message so tests can assert on what a real
//! relay would have received, including whether the session was encrypted
//! and who authenticated. It listens on 127.0.0.1 with an OS-chosen port, so
//! tests can run in parallel.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Longer lines are refused; generous, because RFC 5321's 1000-octet limit
/// is routinely exceeded by real clients.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Advertised with `SIZE` and enforced in `DATA`.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// A silent client must not keep a task alive for the rest of the test run.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT_LIMIT: Duration = Duration::from_secs(10);
/// Pause of the accept loop after a failed accept (out of descriptors), so it
/// does not spin; it is the server's own backoff, not a wait of a test.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// One message as the server accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The envelope sender from `MAIL FROM`, without angle brackets.
    pub from: String,
    /// The envelope recipients from `RCPT TO`, without angle brackets.
    pub to: Vec<String>,
    /// The message after dot-unstuffing, with CRLF line ends, without the
    /// terminating `.` line.
    pub data: String,
    /// Whether the session had been upgraded with STARTTLS.
    pub tls: bool,
    /// The user who authenticated in this session, if any.
    pub user: Option<String>,
}

/// A running fake server; it stops accepting connections when dropped.
pub struct FakeSmtp {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    cert_pem: Option<String>,
    accept_loop: JoinHandle<()>,
}

impl FakeSmtp {
    /// Plain server (no STARTTLS offered).
    ///
    /// # Panics
    /// When no local port can be bound; a test cannot run without one.
    pub async fn start() -> Self {
        Self::listen(None, None).await
    }

    /// Offers STARTTLS with a fresh self-signed certificate for "localhost";
    /// `cert_pem()` gives it to trust.
    ///
    /// # Panics
    /// When no local port can be bound or the certificate cannot be made.
    pub async fn start_tls() -> Self {
        let (acceptor, pem) = self_signed_localhost();
        Self::listen(Some(acceptor), Some(pem)).await
    }

    /// The PEM certificate a client must trust to accept STARTTLS.
    pub fn cert_pem(&self) -> Option<String> {
        self.cert_pem.clone()
    }

    /// Require AUTH with these credentials before MAIL.
    pub fn require_auth(&self, user: &str, password: &str) {
        self.shared.lock().credentials = Some((user.to_owned(), password.to_owned()));
    }

    /// The next `n` transactions answer MAIL FROM with 451 (a transient
    /// failure), to test retries.
    pub fn fail_next(&self, n: usize) {
        self.shared.lock().failures_left = n;
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Waits until `n` messages arrived (woken by each one, up to 10 s), returns them.
    ///
    /// Returns what arrived so far when the time is up, so the test's own
    /// assertion reports the shortfall.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.received();
            }
        }
    }

    async fn listen(acceptor: Option<TlsAcceptor>, cert_pem: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake SMTP server binds a local port");
        let addr = listener
            .local_addr()
            .expect("fake SMTP server knows its address");
        let shared = Arc::new(Shared::default());
        let accept_loop = tokio::spawn(accept_connections(listener, acceptor, Arc::clone(&shared)));
        Self {
            addr,
            shared,
            cert_pem,
            accept_loop,
        }
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// Uses the ring provider explicitly so no process-wide default is needed.
fn self_signed_localhost() -> (TlsAcceptor, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("self-signed certificate is generated");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("generated certificate and key match");
    (TlsAcceptor::from(Arc::new(config)), certified.cert.pem())
}

/// State shared by the test and all connection tasks.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Told of every message stored, for [`FakeSmtp::wait_for`].
    arrived: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    credentials: Option<(String, String)>,
    failures_left: usize,
    received: Vec<Received>,
}

impl Shared {
    /// A panicking test thread must not turn every later lock into a panic.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn auth_required(&self) -> bool {
        self.lock().credentials.is_some()
    }

    /// Without configured credentials any login is accepted, so clients that
    /// always authenticate can still be tested.
    fn accepts(&self, user: &str, password: &str) -> bool {
        match &self.lock().credentials {
            Some((expected_user, expected_password)) => {
                user == expected_user && password == expected_password
            }
            None => true,
        }
    }

    fn take_failure(&self) -> bool {
        let mut state = self.lock();
        let fail = state.failures_left > 0;
        state.failures_left = state.failures_left.saturating_sub(1);
        fail
    }

    fn store(&self, message: Received) {
        self.lock().received.push(message);
        self.arrived.notify_waiters();
    }
}

async fn accept_connections(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                tokio::spawn(handle_connection(
                    stream,
                    acceptor.clone(),
                    Arc::clone(&shared),
                ));
            }
            // Running out of file descriptors is temporary; keep serving.
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

/// A misbehaving client only ends its own connection.
async fn handle_connection(stream: TcpStream, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let _ = serve(stream, acceptor, shared).await;
}

async fn serve(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let mut session = Session::new(shared, acceptor.is_some());
    let (Ended::StartTls(stream), Some(acceptor)) =
        (converse(stream, &mut session, true).await?, acceptor)
    else {
        return Ok(());
    };
    let tls = tokio::time::timeout(IDLE_TIMEOUT, acceptor.accept(stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    session.begin_tls();
    converse(tls, &mut session, false).await?;
    Ok(())
}

/// How a dialogue on one stream ended.
enum Ended<S> {
    Closed,
    /// The client asked for STARTTLS; the raw stream is handed back for the
    /// handshake.
    StartTls(S),
}

/// What the connection does after a command.
enum Next {
    Continue,
    Close,
    StartTls,
}

async fn converse<S>(stream: S, session: &mut Session, greet: bool) -> io::Result<Ended<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut wire = Wire::new(stream);
    if greet {
        wire.reply("220 localhost ESMTP fake server ready").await?;
    }
    loop {
        let line = match wire.read_line().await? {
            Line::Complete(line) => line,
            Line::Eof => return Ok(Ended::Closed),
            Line::TooLong => {
                // The rest of the line would be read as commands; stop here.
                wire.reply("500 5.5.6 Line too long").await?;
                return Ok(Ended::Closed);
            }
        };
        match session.command(&mut wire, &line).await? {
            Next::Continue => {}
            Next::Close => return Ok(Ended::Closed),
            // Anything pipelined after STARTTLS is dropped with the buffer,
            // which is what RFC 3207 asks for (no plaintext injection).
            Next::StartTls => return Ok(Ended::StartTls(wire.into_inner())),
        }
    }
}

/// One line as read from the client.
enum Line {
    /// Including its line end.
    Complete(Vec<u8>),
    TooLong,
    Eof,
}

/// Line-oriented reading and reply writing over any stream.
struct Wire<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    fn new(stream: S) -> Self {
        Self {
            stream: BufReader::new(stream),
        }
    }

    fn into_inner(self) -> S {
        self.stream.into_inner()
    }

    async fn reply(&mut self, text: &str) -> io::Result<()> {
        self.stream
            .write_all(format!("{text}\r\n").as_bytes())
            .await?;
        self.stream.flush().await
    }

    /// An idle client is treated like one that hung up.
    async fn read_line(&mut self) -> io::Result<Line> {
        let mut line = Vec::new();
        let mut limited = (&mut self.stream).take(MAX_LINE_BYTES as u64);
        let Ok(read) =
            tokio::time::timeout(IDLE_TIMEOUT, limited.read_until(b'\n', &mut line)).await
        else {
            return Ok(Line::Eof);
        };
        read?;
        Ok(if line.ends_with(b"\n") {
            Line::Complete(line)
        } else if line.len() >= MAX_LINE_BYTES {
            Line::TooLong
        } else {
            Line::Eof
        })
    }

    /// A text line for AUTH exchanges; `None` when it is missing or too long.
    async fn read_text(&mut self) -> io::Result<Option<String>> {
        Ok(match self.read_line().await? {
            Line::Complete(line) => Some(String::from_utf8_lossy(&line).trim_end().to_owned()),
            Line::TooLong | Line::Eof => None,
        })
    }

    /// Reads the DATA body up to CRLF.CRLF, undoing dot-stuffing; `None`
    /// when a line or the whole message is too long.
    async fn read_data(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut body = Vec::new();
        loop {
            let line = match self.read_line().await? {
                Line::Complete(line) => line,
                Line::TooLong => return Ok(None),
                Line::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
            };
            if line == b".\r\n" {
                return Ok(Some(body));
            }
            let content = line.strip_prefix(b".").unwrap_or(&line);
            if body.len() + content.len() > MAX_MESSAGE_BYTES {
                return Ok(None);
            }
            body.extend_from_slice(content);
        }
    }
}

/// The envelope of the transaction in progress.
struct Transaction {
    from: String,
    to: Vec<String>,
}

/// Per-connection protocol state.
struct Session {
    shared: Arc<Shared>,
    tls_available: bool,
    tls: bool,
    greeted: bool,
    user: Option<String>,
    transaction: Option<Transaction>,
}

impl Session {
    fn new(shared: Arc<Shared>, tls_available: bool) -> Self {
        Self {
            shared,
            tls_available,
            tls: false,
            greeted: false,
            user: None,
            transaction: None,
        }
    }

    /// RFC 3207: everything learnt before the handshake is discarded, and the
    /// client must EHLO again.
    fn begin_tls(&mut self) {
        self.tls = true;
        self.greeted = false;
        self.user = None;
        self.transaction = None;
    }

    async fn command<S>(&mut self, wire: &mut Wire<S>, line: &[u8]) -> io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let text = String::from_utf8_lossy(line);
        let (verb, argument) = split_word(text.trim_end_matches(['\r', '\n']));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => self.ehlo(argument),
            "HELO" => self.helo(argument),
            "STARTTLS" => return self.starttls(wire, argument).await,
            "AUTH" => self.auth(wire, argument).await?,
            "MAIL" => self.mail(argument),
            "RCPT" => self.rcpt(argument),
            "DATA" => return self.data(wire).await,
            "RSET" => self.rset(),
            "NOOP" => "250 2.0.0 OK".to_owned(),
            "QUIT" => {
                wire.reply("221 2.0.0 Bye").await?;
                return Ok(Next::Close);
            }
            _ => "500 5.5.2 Command not recognized".to_owned(),
        };
        wire.reply(&reply).await?;
        Ok(Next::Continue)
    }

    fn ehlo(&mut self, domain: &str) -> String {
        if domain.is_empty() {
            return "501 5.5.4 Syntax: EHLO domain".to_owned();
        }
        self.greeted = true;
        self.transaction = None;
        let mut lines = vec![
            "localhost greets you".to_owned(),
            "8BITMIME".to_owned(),
            format!("SIZE {MAX_MESSAGE_BYTES}"),
        ];
        if self.tls_available && !self.tls {
            lines.push("STARTTLS".to_owned());
        }
        lines.push("AUTH PLAIN LOGIN".to_owned());
        multiline_reply(250, &lines)
    }

    fn helo(&mut self, domain: &str) -> String {
        if domain.is_empty() {
            return "501 5.5.4 Syntax: HELO domain".to_owned();
        }
        self.greeted = true;
        self.transaction = None;
        "250 localhost".to_owned()
    }

    async fn starttls<S>(&mut self, wire: &mut Wire<S>, argument: &str) -> io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let refusal = if !self.tls_available {
            Some("502 5.5.1 STARTTLS not offered")
        } else if self.tls {
            Some("503 5.5.1 TLS already active")
        } else if !argument.is_empty() {
            Some("501 5.5.4 Syntax: STARTTLS")
        } else {
            None
        };
        if let Some(refusal) = refusal {
            wire.reply(refusal).await?;
            return Ok(Next::Continue);
        }
        wire.reply("220 2.0.0 Ready to start TLS").await?;
        Ok(Next::StartTls)
    }

    async fn auth<S>(&mut self, wire: &mut Wire<S>, argument: &str) -> io::Result<String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if !self.greeted || self.user.is_some() || self.transaction.is_some() {
            return Ok("503 5.5.1 AUTH not allowed now".to_owned());
        }
        let (mechanism, initial) = split_word(argument);
        let credentials = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => read_plain(wire, initial).await?,
            "LOGIN" => read_login(wire, initial).await?,
            _ => return Ok("504 5.5.4 Unrecognized authentication type".to_owned()),
        };
        let Some((user, password)) = credentials else {
            return Ok("501 5.5.2 Cannot decode credentials".to_owned());
        };
        if !self.shared.accepts(&user, &password) {
            return Ok("535 5.7.8 Authentication credentials invalid".to_owned());
        }
        self.user = Some(user);
        Ok("235 2.7.0 Authentication successful".to_owned())
    }

    fn mail(&mut self, argument: &str) -> String {
        if !self.greeted {
            return "503 5.5.1 Send EHLO first".to_owned();
        }
        if self.transaction.is_some() {
            return "503 5.5.1 Nested MAIL command".to_owned();
        }
        if self.user.is_none() && self.shared.auth_required() {
            return "530 5.7.0 Authentication required".to_owned();
        }
        let Some(from) = parse_path(argument, "FROM:") else {
            return "501 5.5.4 Syntax: MAIL FROM:<address>".to_owned();
        };
        if self.shared.take_failure() {
            return "451 4.3.0 Temporary failure, try again later".to_owned();
        }
        self.transaction = Some(Transaction {
            from,
            to: Vec::new(),
        });
        "250 2.1.0 OK".to_owned()
    }

    fn rcpt(&mut self, argument: &str) -> String {
        let Some(transaction) = &mut self.transaction else {
            return "503 5.5.1 Need MAIL first".to_owned();
        };
        match parse_path(argument, "TO:") {
            Some(to) if !to.is_empty() => {
                transaction.to.push(to);
                "250 2.1.5 OK".to_owned()
            }
            _ => "501 5.5.4 Syntax: RCPT TO:<address>".to_owned(),
        }
    }

    async fn data<S>(&mut self, wire: &mut Wire<S>) -> io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(transaction) = self
            .transaction
            .take_if(|transaction| !transaction.to.is_empty())
        else {
            wire.reply("503 5.5.1 Need RCPT first").await?;
            return Ok(Next::Continue);
        };
        wire.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let Some(body) = wire.read_data().await? else {
            // The rest of the oversized input cannot be framed; hang up.
            wire.reply("552 5.3.4 Line or message too long").await?;
            return Ok(Next::Close);
        };
        self.shared.store(Received {
            from: transaction.from,
            to: transaction.to,
            data: String::from_utf8_lossy(&body).into_owned(),
            tls: self.tls,
            user: self.user.clone(),
        });
        wire.reply("250 2.0.0 OK queued").await?;
        Ok(Next::Continue)
    }

    fn rset(&mut self) -> String {
        self.transaction = None;
        "250 2.0.0 OK".to_owned()
    }
}

/// AUTH PLAIN: base64 of `authzid NUL authcid NUL password` (RFC 4616),
/// either inline or after an empty challenge.
async fn read_plain<S>(wire: &mut Wire<S>, initial: &str) -> io::Result<Option<(String, String)>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let response = if initial.is_empty() {
        challenge(wire, "").await?
    } else {
        Some(initial.to_owned())
    };
    let Some(decoded) = response.as_deref().and_then(decode_base64) else {
        return Ok(None);
    };
    let mut parts = decoded.split(|&byte| byte == 0);
    Ok(
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(_authzid), Some(user), Some(password), None) => {
                Some((lossy(user), lossy(password)))
            }
            _ => None,
        },
    )
}

/// AUTH LOGIN: base64 user name and password in answer to two challenges;
/// the user name may come inline.
async fn read_login<S>(wire: &mut Wire<S>, initial: &str) -> io::Result<Option<(String, String)>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let user = if initial.is_empty() {
        challenge(wire, "VXNlcm5hbWU6").await?
    } else {
        Some(initial.to_owned())
    };
    let Some(user) = user.as_deref().and_then(decode_base64) else {
        return Ok(None);
    };
    let password = challenge(wire, "UGFzc3dvcmQ6").await?;
    Ok(password
        .as_deref()
        .and_then(decode_base64)
        .map(|password| (lossy(&user), lossy(&password))))
}

/// Sends a 334 challenge; a `*` answer cancels the exchange (RFC 4954).
async fn challenge<S>(wire: &mut Wire<S>, prompt: &str) -> io::Result<Option<String>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    wire.reply(&format!("334 {prompt}")).await?;
    Ok(wire.read_text().await?.filter(|answer| answer != "*"))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn multiline_reply(code: u16, lines: &[String]) -> String {
    let last = lines.len().saturating_sub(1);
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let separator = if index == last { ' ' } else { '-' };
            format!("{code}{separator}{line}")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Splits off the first space-separated word; the rest is trimmed.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.split_once(' ') {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

/// Extracts the address from `FROM:<a@b> PARAMS` or `TO:<a@b>`; the
/// keyword is case-insensitive and ESMTP parameters are ignored.
fn parse_path(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let path = argument
        .get(keyword.len()..)?
        .trim_start()
        .strip_prefix('<')?;
    let (address, _parameters) = path.split_once('>')?;
    Some(address.to_owned())
}

/// Standard base64 (RFC 4648) with optional padding; hand-rolled because the
/// server needs nothing else from a base64 crate.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in text.trim().trim_end_matches('=').bytes() {
        buffer = (buffer << 6) | u32::from(base64_value(byte)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            decoded.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(decoded)
}

fn base64_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connect(server: &FakeSmtp) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(server.addr).await.expect("connect");
        let mut client = BufReader::new(stream);
        assert!(reply_to(&mut client, b"").await.starts_with("220"));
        client
    }

    /// Sends `request` (if any) and returns the last line of the reply.
    async fn reply_to(client: &mut BufReader<TcpStream>, request: &[u8]) -> String {
        client.get_mut().write_all(request).await.expect("write");
        let mut line = String::new();
        loop {
            line.clear();
            client.read_line(&mut line).await.expect("read");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }

    #[test]
    fn base64_decoding_matches_known_values() {
        assert_eq!(
            decode_base64("VXNlcm5hbWU6").as_deref(),
            Some(&b"Username:"[..])
        );
        assert_eq!(decode_base64("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(
            decode_base64("AGFsaWNlAHNlY3JldA==").as_deref(),
            Some(&b"\0alice\0secret"[..])
        );
        assert_eq!(decode_base64("not base64!"), None);
    }

    #[test]
    fn paths_are_parsed_with_case_insensitive_keywords_and_parameters() {
        assert_eq!(
            parse_path("from:<a@b.c> SIZE=10", "FROM:").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(parse_path("TO: <x@y>", "TO:").as_deref(), Some("x@y"));
        assert_eq!(parse_path("FROM:<>", "FROM:").as_deref(), Some(""));
        assert_eq!(parse_path("FROM:a@b", "FROM:"), None);
        assert_eq!(parse_path("é", "FROM:"), None);
    }

    #[tokio::test]
    async fn a_full_plain_dialogue_with_auth_plain_is_recorded() {
        let server = FakeSmtp::start().await;
        server.require_auth("alice", "secret");
        let mut client = connect(&server).await;

        assert!(
            reply_to(&mut client, b"EHLO test\r\n")
                .await
                .starts_with("250 AUTH PLAIN LOGIN")
        );
        assert!(
            reply_to(&mut client, b"MAIL FROM:<a@b>\r\n")
                .await
                .starts_with("530")
        );
        let auth = b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n";
        assert!(reply_to(&mut client, auth).await.starts_with("235"));
        assert!(
            reply_to(&mut client, b"MAIL FROM:<a@b>\r\n")
                .await
                .starts_with("250")
        );
        assert!(
            reply_to(&mut client, b"RCPT TO:<c@d>\r\n")
                .await
                .starts_with("250")
        );
        assert!(reply_to(&mut client, b"DATA\r\n").await.starts_with("354"));
        let body = b"Subject: hi\r\n\r\n..dotted\r\n.\r\n";
        assert!(reply_to(&mut client, body).await.starts_with("250"));
        assert!(reply_to(&mut client, b"QUIT\r\n").await.starts_with("221"));

        let received = server.wait_for(1).await;
        assert_eq!(
            received,
            vec![Received {
                from: "a@b".into(),
                to: vec!["c@d".into()],
                data: "Subject: hi\r\n\r\n.dotted\r\n".into(),
                tls: false,
                user: Some("alice".into()),
            }]
        );
    }

    #[tokio::test]
    async fn auth_login_with_a_wrong_password_gets_535() {
        let server = FakeSmtp::start().await;
        server.require_auth("alice", "secret");
        let mut client = connect(&server).await;

        reply_to(&mut client, b"EHLO test\r\n").await;
        assert!(
            reply_to(&mut client, b"AUTH LOGIN\r\n")
                .await
                .starts_with("334 VXNlcm5hbWU6")
        );
        assert!(
            reply_to(&mut client, b"YWxpY2U=\r\n")
                .await
                .starts_with("334 UGFzc3dvcmQ6")
        );
        assert!(
            reply_to(&mut client, b"d3Jvbmc=\r\n")
                .await
                .starts_with("535")
        );
    }

    #[tokio::test]
    async fn commands_out_of_order_are_refused() {
        let server = FakeSmtp::start().await;
        let mut client = connect(&server).await;

        assert!(
            reply_to(&mut client, b"MAIL FROM:<a@b>\r\n")
                .await
                .starts_with("503")
        );
        assert!(
            reply_to(&mut client, b"HELO test\r\n")
                .await
                .starts_with("250")
        );
        assert!(
            reply_to(&mut client, b"RCPT TO:<c@d>\r\n")
                .await
                .starts_with("503")
        );
        assert!(reply_to(&mut client, b"DATA\r\n").await.starts_with("503"));
        assert!(
            reply_to(&mut client, b"STARTTLS\r\n")
                .await
                .starts_with("502")
        );
        assert!(reply_to(&mut client, b"NOOP\r\n").await.starts_with("250"));
        assert!(reply_to(&mut client, b"RSET\r\n").await.starts_with("250"));
    }

    #[tokio::test]
    async fn an_overlong_line_gets_500_and_the_server_keeps_serving() {
        let server = FakeSmtp::start().await;
        let mut client = connect(&server).await;

        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        assert!(reply_to(&mut client, &long).await.starts_with("500"));

        let mut next = connect(&server).await;
        assert!(reply_to(&mut next, b"NOOP\r\n").await.starts_with("250"));
    }

    #[tokio::test]
    async fn binary_garbage_gets_500() {
        let server = FakeSmtp::start().await;
        let mut client = connect(&server).await;

        assert!(
            reply_to(&mut client, b"\xff\xfe\x00\x01\r\n")
                .await
                .starts_with("500")
        );
        assert!(reply_to(&mut client, b"\r\n").await.starts_with("500"));
    }
}
