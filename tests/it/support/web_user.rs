//! A person using the web console over plain HTTP: keeps the console's cookies,
//! follows redirects by hand (also to the fake Slack's authorization page and back),
//! and reads the CSRF token out of the pages' forms.

use super::TestApp;
use std::collections::BTreeMap;

pub struct WebUser {
    http: reqwest::Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
}

/// A page as the browser got it.
pub struct Page {
    pub status: u16,
    pub body: String,
}

impl WebUser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.url(""),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, r: &reqwest::Response) {
        if !r.url().as_str().starts_with(&self.base) {
            return;
        }
        for v in r.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if text.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder, url: &str) -> reqwest::Response {
        let req = if url.starts_with(&self.base) {
            req.header(reqwest::header::COOKIE, self.cookie_header())
        } else {
            req
        };
        let r = req
            .header(reqwest::header::ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        self.keep_cookies(&r);
        r
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base.trim_end_matches('/'))
        }
    }

    /// GETs `path`, following redirects.
    pub async fn get(&mut self, path: &str) -> Page {
        let mut url = self.absolute(path);
        for _ in 0..10 {
            let r = self.send(self.http.get(&url), &url.clone()).await;
            if r.status().is_redirection() {
                url = self.absolute(r.headers()[reqwest::header::LOCATION].to_str().unwrap());
                continue;
            }
            return Page {
                status: r.status().as_u16(),
                // The templates escape `/` too; the tests read it back as a slash.
                body: r.text().await.unwrap().replace("&#x2f;", "/"),
            };
        }
        panic!("too many redirects from {path}");
    }

    /// GETs `path` without following a redirect: the status and where it points.
    pub async fn get_once(&mut self, path: &str) -> (u16, Option<String>) {
        let url = self.absolute(path);
        let r = self.send(self.http.get(&url), &url.clone()).await;
        let location = r
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (r.status().as_u16(), location)
    }

    /// POSTs a form to `path`; returns the status and where it redirects (if it does).
    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let url = self.absolute(path);
        let r = self
            .send(self.http.post(&url).form(form), &url.clone())
            .await;
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location, r.text().await.unwrap())
    }

    /// Signs in through Slack as whoever the fake is set to sign in.
    pub async fn sign_in(&mut self) -> Page {
        self.get("/login").await
    }
}

/// The CSRF token a page carries (in its head, for its forms).
pub fn csrf(body: &str) -> String {
    let marker = r#"<meta name="csrf-token" content=""#;
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF token in the page: {body}"));
    let rest = &body[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}
