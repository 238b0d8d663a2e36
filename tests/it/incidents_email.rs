//! Escalation mail through a real SMTP conversation with the harness's server:
//! STARTTLS with a certificate the sender trusts, AUTH, refusals kept apart from
//! outages, and nothing sent in clear when TLS is required.

use crate::support::fake_smtp::FakeSmtp;
use opsmate::features::incidents::escalate::smtp::{Mail, Security, SendError, SmtpSettings, send};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USER: &str = "opsmate";
const PASSWORD: &str = "correct-horse-battery";

fn settings_for(server: &FakeSmtp, security: Security) -> SmtpSettings {
    SmtpSettings {
        host: "localhost".into(),
        port: server.addr.port(),
        security,
        from: "OpsMate <opsmate@example.com>".into(),
        username: None,
        password: None,
        timeout: Duration::from_secs(10),
        extra_roots_pem: server.cert_pem().into_iter().collect(),
    }
}

fn with_credentials(settings: SmtpSettings, password: &str) -> SmtpSettings {
    SmtpSettings {
        username: Some(USER.into()),
        password: Some(password.into()),
        ..settings
    }
}

fn incident_mail() -> Mail {
    Mail {
        to: vec!["oncall@example.com".into()],
        subject: "Incident 42: database down".into(),
        text: "The primary database stopped answering at 03:12.".into(),
    }
}

#[tokio::test]
async fn mail_over_starttls_with_auth_arrives_encrypted_with_user_and_content() {
    let server = FakeSmtp::start_tls().await;
    server.require_auth(USER, PASSWORD);
    let settings = with_credentials(settings_for(&server, Security::StartTlsRequired), PASSWORD);

    send(&settings, &incident_mail())
        .await
        .expect("send succeeds");

    let received = server.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert!(message.tls);
    assert_eq!(message.user.as_deref(), Some(USER));
    assert_eq!(message.from, "opsmate@example.com");
    assert_eq!(message.to, vec!["oncall@example.com".to_owned()]);
    assert!(message.data.contains("Subject: Incident 42: database down"));
    assert!(
        message
            .data
            .contains("The primary database stopped answering at 03:12.")
    );
}

#[tokio::test]
async fn required_starttls_against_a_plain_server_fails_without_sending() {
    let server = FakeSmtp::start().await;
    let settings = settings_for(&server, Security::StartTlsRequired);

    let result = send(&settings, &incident_mail()).await;

    assert!(result.is_err(), "expected a failure, got {result:?}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn opportunistic_starttls_against_a_plain_server_sends_in_clear() {
    let server = FakeSmtp::start().await;
    let settings = settings_for(&server, Security::StartTlsOpportunistic);

    send(&settings, &incident_mail())
        .await
        .expect("send succeeds");

    let received = server.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert!(!received[0].tls);
}

#[tokio::test]
async fn opportunistic_starttls_upgrades_when_the_server_offers_it() {
    let server = FakeSmtp::start_tls().await;
    let settings = settings_for(&server, Security::StartTlsOpportunistic);

    send(&settings, &incident_mail())
        .await
        .expect("send succeeds");

    assert!(server.wait_for(1).await[0].tls);
}

#[tokio::test]
async fn a_4xx_reply_is_transient_and_the_retry_succeeds() {
    let server = FakeSmtp::start().await;
    server.fail_next(1);
    let settings = settings_for(&server, Security::Plain);

    let first = send(&settings, &incident_mail()).await;
    assert!(
        matches!(first, Err(SendError::Transient(_))),
        "got {first:?}"
    );

    send(&settings, &incident_mail())
        .await
        .expect("retry succeeds");
    assert_eq!(server.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_not_revealed_in_the_error() {
    let server = FakeSmtp::start_tls().await;
    server.require_auth(USER, PASSWORD);
    let wrong = "wrong-password-7781";
    let settings = with_credentials(settings_for(&server, Security::StartTlsRequired), wrong);

    let error = send(&settings, &incident_mail())
        .await
        .expect_err("auth fails");

    assert!(matches!(error, SendError::Permanent(_)), "got {error:?}");
    assert!(!error.to_string().contains(wrong));
    assert!(!format!("{error:?}").contains(wrong));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_bad_recipient_is_permanent_names_the_address_and_sends_nothing() {
    let server = FakeSmtp::start().await;
    let settings = settings_for(&server, Security::Plain);
    let mail = Mail {
        to: vec!["oncall@example.com".into(), "not an address".into()],
        ..incident_mail()
    };

    let error = send(&settings, &mail)
        .await
        .expect_err("address is rejected");

    assert!(matches!(&error, SendError::Permanent(reason) if reason.contains("not an address")));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_bad_sender_is_permanent_and_names_the_address() {
    let server = FakeSmtp::start().await;
    let settings = SmtpSettings {
        from: "OpsMate <nobody>".into(),
        ..settings_for(&server, Security::Plain)
    };

    let error = send(&settings, &incident_mail())
        .await
        .expect_err("sender is rejected");

    assert!(matches!(&error, SendError::Permanent(reason) if reason.contains("OpsMate <nobody>")));
}

#[tokio::test]
async fn a_mail_without_recipients_is_permanent() {
    let server = FakeSmtp::start().await;
    let settings = settings_for(&server, Security::Plain);
    let mail = Mail {
        to: Vec::new(),
        ..incident_mail()
    };

    let error = send(&settings, &mail).await.expect_err("no recipients");

    assert!(matches!(error, SendError::Permanent(_)));
}

#[tokio::test]
async fn an_extra_root_that_is_not_a_certificate_is_permanent() {
    let server = FakeSmtp::start_tls().await;
    let settings = SmtpSettings {
        extra_roots_pem: vec!["not a certificate".into()],
        ..settings_for(&server, Security::StartTlsRequired)
    };

    let error = send(&settings, &incident_mail())
        .await
        .expect_err("root is rejected");

    assert!(matches!(&error, SendError::Permanent(reason) if reason.contains("#0")));
}

#[tokio::test]
async fn an_untrusted_server_certificate_fails_without_sending() {
    let server = FakeSmtp::start_tls().await;
    let settings = SmtpSettings {
        extra_roots_pem: Vec::new(),
        ..settings_for(&server, Security::StartTlsRequired)
    };

    assert!(send(&settings, &incident_mail()).await.is_err());
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    let server = FakeSmtp::start().await;
    let settings = SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        ..settings_for(&server, Security::Plain)
    };

    let error = send(&settings, &incident_mail())
        .await
        .expect_err("nobody listens");

    assert!(matches!(error, SendError::Transient(_)), "got {error:?}");
}

#[tokio::test]
async fn a_server_that_never_greets_times_out_as_transient() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = FakeSmtp::start().await;
    let settings = SmtpSettings {
        host: "127.0.0.1".into(),
        port: silent.local_addr().expect("local address").port(),
        timeout: Duration::from_millis(300),
        ..settings_for(&server, Security::Plain)
    };

    let error = send(&settings, &incident_mail())
        .await
        .expect_err("times out");

    assert!(matches!(error, SendError::Transient(_)), "got {error:?}");
}

#[tokio::test]
async fn a_body_line_starting_with_a_dot_arrives_intact() {
    let server = FakeSmtp::start().await;
    let settings = settings_for(&server, Security::Plain);
    let mail = Mail {
        text: "first line\r\n.\r\n..two dots\r\nlast line".into(),
        ..incident_mail()
    };

    send(&settings, &mail).await.expect("send succeeds");

    let data = &server.wait_for(1).await[0].data;
    assert!(
        data.contains("first line\r\n.\r\n..two dots\r\nlast line"),
        "got {data:?}"
    );
}

#[tokio::test]
async fn garbage_gets_a_500_reply_and_the_server_keeps_serving() {
    let server = FakeSmtp::start().await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut client = BufReader::new(stream);
    let mut line = String::new();
    client.read_line(&mut line).await.expect("greeting");
    assert!(line.starts_with("220"), "got {line:?}");

    client
        .get_mut()
        .write_all(b"HELLO?\r\n")
        .await
        .expect("write");
    line.clear();
    client.read_line(&mut line).await.expect("reply");
    assert!(line.starts_with("500"), "got {line:?}");

    send(&settings_for(&server, Security::Plain), &incident_mail())
        .await
        .expect("the next client is served");
    assert_eq!(server.wait_for(1).await.len(), 1);
}
