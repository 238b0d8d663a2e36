//! The AWS proxy in front of a real moto server, for IAM: AWS-style paging, persistent
//! action faults and the service-specific credentials moto lacks, as the SDK sees them.

use crate::support::aws_proxy::AwsProxy;
use crate::support::moto::Moto;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{EntityType, Tag};
use opsmate::cloud::Aws;
use opsmate::config::AwsConfig;
use std::collections::HashMap;

/// moto, the proxy in front of it, and an IAM client pointed at the proxy.
async fn proxied_iam() -> (Moto, AwsProxy, aws_sdk_iam::Client) {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let proxy = AwsProxy::start(&moto.endpoint).await;
    let config = AwsConfig {
        regions: vec!["us-east-1".into()],
        endpoint_url: Some(proxy.endpoint.clone()),
        ..AwsConfig::default()
    };
    let aws = Aws::with_static_credentials(&config, "testing", "testing").await;
    (moto, proxy, aws.iam())
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_authorization_details_are_paged_like_aws() {
    let (_moto, proxy, iam) = proxied_iam().await;
    for i in 0..250 {
        iam.create_user()
            .user_name(format!("user-{i:03}"))
            .tags(tag("index", &i.to_string()))
            .tags(tag("email", &format!("user-{i:03}@example.com")))
            .send()
            .await
            .expect("CreateUser through the proxy");
    }
    proxy.clear_calls();

    let mut seen: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut duplicates = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .get_account_authorization_details()
            .filter(EntityType::User)
            .max_items(100)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("a page of GetAccountAuthorizationDetails");
        for user in page.user_detail_list() {
            let name = user.user_name().unwrap_or_default().to_owned();
            let tags = user
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            if seen.insert(name.clone(), tags).is_some() {
                duplicates.push(name);
            }
        }
        if !page.is_truncated() {
            assert_eq!(page.marker(), None, "the last page has no marker");
            break;
        }
        marker = Some(
            page.marker()
                .expect("a truncated page has a marker")
                .to_owned(),
        );
    }

    assert!(duplicates.is_empty(), "seen twice: {duplicates:?}");
    assert_eq!(seen.len(), 250);
    for i in 0..250 {
        let name = format!("user-{i:03}");
        let mut tags = seen[&name].clone();
        tags.sort();
        assert_eq!(
            tags,
            vec![
                ("email".to_owned(), format!("{name}@example.com")),
                ("index".to_owned(), i.to_string()),
            ],
            "tags of {name}"
        );
    }
    let calls = proxy.calls_to("GetAccountAuthorizationDetails");
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|c| c.status == 200 && c.region == "us-east-1")
    );
    let markers: Vec<_> = calls.iter().map(|c| c.param("Marker")).collect();
    assert_eq!(markers, vec![None, Some("p-100"), Some("p-200")]);

    // ListUsers pages at 100 when MaxItems is absent, as AWS does.
    let first = iam.list_users().send().await.expect("ListUsers");
    assert_eq!(first.users().len(), 100);
    assert!(first.is_truncated());
    assert_eq!(first.marker(), Some("p-100"));

    // Above AWS's cap the request is rejected, as AWS would.
    let err = iam
        .get_account_authorization_details()
        .filter(EntityType::User)
        .max_items(1001)
        .send()
        .await
        .expect_err("MaxItems above 1000");
    assert_eq!(err.code(), Some("ValidationError"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_fault_lasts_until_cleared() {
    let (_moto, proxy, iam) = proxied_iam().await;
    iam.create_user()
        .user_name("dana")
        .send()
        .await
        .expect("CreateUser");
    proxy.clear_calls();

    proxy.fail_action(
        "ListAttachedUserPolicies",
        403,
        "AccessDenied",
        "User is not authorized to perform iam:ListAttachedUserPolicies",
    );
    for _ in 0..2 {
        proxy.clear_calls();
        let err = iam
            .list_attached_user_policies()
            .user_name("dana")
            .send()
            .await
            .expect_err("the action is denied");
        assert_eq!(err.code(), Some("AccessDenied"));
        assert_eq!(
            err.message(),
            Some("User is not authorized to perform iam:ListAttachedUserPolicies")
        );
        let statuses: Vec<u16> = proxy.calls().iter().map(|c| c.status).collect();
        assert_eq!(statuses, vec![403], "a 403 is not retried");
    }
    // Other actions are unaffected.
    iam.get_user()
        .user_name("dana")
        .send()
        .await
        .expect("GetUser still answers");

    proxy.clear_fault("ListAttachedUserPolicies");
    let out = iam
        .list_attached_user_policies()
        .user_name("dana")
        .send()
        .await
        .expect("the action answers again");
    assert!(out.attached_policies().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_specific_credentials_are_served_by_the_proxy() {
    let (_moto, proxy, iam) = proxied_iam().await;
    let first = proxy.add_service_specific_credential("erin", "codecommit.amazonaws.com");
    let second = proxy.add_service_specific_credential("erin", "cassandra.amazonaws.com");
    proxy.add_service_specific_credential("frank", "codecommit.amazonaws.com");
    assert_ne!(first, second);

    let listed = iam
        .list_service_specific_credentials()
        .user_name("erin")
        .send()
        .await
        .expect("ListServiceSpecificCredentials");
    let credentials = listed.service_specific_credentials();
    let ids: Vec<&str> = credentials
        .iter()
        .map(|c| c.service_specific_credential_id())
        .collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
    let one = &credentials[0];
    assert_eq!(one.user_name(), "erin");
    assert_eq!(one.service_name(), "codecommit.amazonaws.com");
    assert_eq!(one.service_user_name(), "erin-at-123456789012");
    assert_eq!(one.status().as_str(), "Active");

    let codecommit = iam
        .list_service_specific_credentials()
        .user_name("erin")
        .service_name("codecommit.amazonaws.com")
        .send()
        .await
        .expect("ListServiceSpecificCredentials for one service");
    assert_eq!(codecommit.service_specific_credentials().len(), 1);

    iam.delete_service_specific_credential()
        .user_name("erin")
        .service_specific_credential_id(&first)
        .send()
        .await
        .expect("DeleteServiceSpecificCredential");
    let listed = iam
        .list_service_specific_credentials()
        .user_name("erin")
        .send()
        .await
        .expect("ListServiceSpecificCredentials after a delete");
    let ids: Vec<&str> = listed
        .service_specific_credentials()
        .iter()
        .map(|c| c.service_specific_credential_id())
        .collect();
    assert_eq!(ids, vec![second.as_str()]);
    assert_eq!(proxy.service_specific_credentials("erin"), vec![second]);
    assert_eq!(proxy.service_specific_credentials("frank").len(), 1);

    let err = iam
        .delete_service_specific_credential()
        .user_name("erin")
        .service_specific_credential_id(&first)
        .send()
        .await
        .expect_err("the credential is gone");
    assert_eq!(err.code(), Some("NoSuchEntity"));

    let empty = iam
        .list_service_specific_credentials()
        .user_name("nobody")
        .send()
        .await
        .expect("ListServiceSpecificCredentials for a user without any");
    assert!(empty.service_specific_credentials().is_empty());

    // Faults win over the proxy's own answers.
    proxy.fail_action(
        "ListServiceSpecificCredentials",
        403,
        "AccessDenied",
        "denied",
    );
    let err = iam
        .list_service_specific_credentials()
        .user_name("erin")
        .send()
        .await
        .expect_err("the action is denied");
    assert_eq!(err.code(), Some("AccessDenied"));

    let calls = proxy.calls_to("ListServiceSpecificCredentials");
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 200, 403]);
    let deletes: Vec<u16> = proxy
        .calls_to("DeleteServiceSpecificCredential")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(deletes, vec![200, 404]);
}
