//! `GET /api/v1/openapi.json`: the API described as OpenAPI 3.1 (whose schemas are
//! plain JSON Schema), built from the core's routes and every feature's
//! [`crate::plugin::ApiResource`], so a new resource is documented where it is
//! declared. The test suite validates real answers against it.

use super::page::{DEFAULT_LIMIT, MAX_LIMIT};
use super::resources;
use axum::Json;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// The document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

/// `GET /api/v1/openapi.json` (no token needed: it holds no data).
pub async fn serve() -> Json<Value> {
    Json(document().clone())
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn errors() -> Value {
    let error = json!({"content": {"application/json": {"schema": schema_ref("Error")}}});
    let mut out = Map::new();
    for (code, what) in [
        (
            "400",
            "The request is malformed (a bad limit, cursor or body).",
        ),
        ("401", "No token, or one that is unknown or revoked."),
        (
            "429",
            "The token's rate limit is reached; retry after `Retry-After` seconds.",
        ),
    ] {
        let mut e = error.clone();
        e["description"] = json!(what);
        out.insert(code.into(), e);
    }
    Value::Object(out)
}

fn with_errors(mut responses: Value, extra: &[(&str, &str)]) -> Value {
    if let (Some(r), Value::Object(common)) = (responses.as_object_mut(), errors()) {
        r.extend(common);
        for (code, what) in extra {
            r.insert(
                (*code).into(),
                json!({"description": what, "content": {"application/json": {"schema": schema_ref("Error")}}}),
            );
        }
    }
    responses
}

fn page_params() -> Value {
    json!([
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        {"name": "cursor", "in": "query", "description": "The `next_cursor` of the previous page.", "schema": {"type": "string"}}
    ])
}

fn page_of(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": schema_ref(item)},
            "next_cursor": {"type": "string", "description": "Present when there are more rows."}
        }
    })
}

fn core_paths() -> Map<String, Value> {
    let mut params = page_params();
    if let Some(p) = params.as_array_mut() {
        p.push(json!({"name": "state", "in": "query", "schema": schema_ref("ProposalState")}));
    }
    let mut audit_params = page_params();
    if let Some(p) = audit_params.as_array_mut() {
        for (name, what) in [
            (
                "event",
                "An event name, or a prefix ending in `.` (`approval.`).",
            ),
            (
                "actor",
                "An actor key (`slack:U123`, `token:ci@slack:U123`).",
            ),
            (
                "subject",
                "What the row is about (an approval id, a resource).",
            ),
        ] {
            p.push(json!({"name": name, "in": "query", "description": what, "schema": {"type": "string"}}));
        }
        for name in ["since", "until"] {
            p.push(json!({"name": name, "in": "query", "schema": {"type": "string", "format": "date-time"}}));
        }
    }
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let mut paths = Map::new();
    paths.insert("/api/v1/approvals".into(), json!({"get": {
        "summary": "Proposals, newest first, optionally in one state.",
        "parameters": params,
        "responses": with_errors(json!({"200": ok("One page of proposals.", page_of("Proposal"))}), &[]),
    }}));
    paths.insert("/api/v1/approvals/{id}".into(), json!({"get": {
        "summary": "One proposal.",
        "parameters": [id.clone()],
        "responses": with_errors(json!({"200": ok("The proposal.", schema_ref("Proposal"))}), &[("404", "No such proposal.")]),
    }}));
    paths.insert("/api/v1/approvals/{id}/decision".into(), json!({"post": {
        "summary": "Decides a proposal as the token's owner, through the same gate as a button (needs a `decide` token).",
        "parameters": [id],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["verdict"],
            "additionalProperties": false,
            "properties": {
                "verdict": {"enum": ["approve", "reject"]},
                "reason": {"type": "string", "maxLength": crate::approvals::MAX_NOTE_CHARS}
            }
        }}}},
        "responses": with_errors(json!({
            "200": ok("Rejected.", schema_ref("Decision")),
            "202": ok("Approved and handed to the executor, or a vote recorded toward a multi-approver rule.", schema_ref("Decision")),
        }), &[
            ("403", "The token's scope or its owner's policy does not allow this decision."),
            ("404", "No such proposal."),
            ("409", "Already decided, expired, or already voted for by this person."),
        ]),
    }}));
    paths.insert("/api/v1/audit".into(), json!({"get": {
        "summary": "The audit log, newest first, narrowed by event, actor, subject and time.",
        "parameters": audit_params,
        "responses": with_errors(json!({"200": ok("One page of audit rows.", page_of("AuditRecord"))}), &[]),
    }}));
    paths.insert("/api/v1/audit/verify".into(), json!({"get": {
        "summary": "Walks the audit chain, as `opsmate audit verify` does.",
        "responses": with_errors(json!({"200": ok("Whether the chain is intact.", schema_ref("Verification"))}), &[]),
    }}));
    paths.insert(
        "/api/v1/openapi.json".into(),
        json!({"get": {
            "summary": "This document.",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document."}},
        }}),
    );
    paths
}

fn components() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let maybe_time = json!({"type": ["string", "null"], "format": "date-time"});
    json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
            "description": "A token from `opsmate token create --name NAME --scope read|decide --owner SLACK_USER_ID`."}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                }}
            },
            "ProposalState": {"enum": ["pending", "approved", "rejected", "expired", "executing", "succeeded", "failed", "skipped", "interrupted"]},
            "Proposal": {
                "type": "object",
                "required": ["id", "kind", "target", "params", "reason", "proposed_by", "state", "required_approvals", "created_at", "expires_at"],
                "properties": {
                    "id": {"type": "string"},
                    "kind": {"type": "string"},
                    "target": {"type": "string"},
                    "params": {},
                    "reason": {"type": "string"},
                    "proposed_by": {"type": "string"},
                    "state": schema_ref("ProposalState"),
                    "required_approvals": {"type": "integer", "minimum": 1},
                    "created_at": time,
                    "expires_at": time,
                    "decided_by": {"type": ["string", "null"]},
                    "decided_at": maybe_time,
                    "finished_at": maybe_time,
                    "decision_note": {"type": ["string", "null"]},
                    "outcome": {"oneOf": [{"type": "null"}, {
                        "type": "object",
                        "properties": {
                            "dry_run": {"type": "boolean"},
                            "report": {},
                            "summary": {"type": "array", "items": {"type": "string"}},
                            "error": {"type": "string"},
                            "skipped": {"type": "string"}
                        }
                    }]},
                    "posted": {"oneOf": [{"type": "null"}, {
                        "type": "object",
                        "required": ["platform", "channel", "message_id"],
                        "properties": {"platform": {"type": "string"}, "channel": {"type": "string"}, "message_id": {"type": "string"}}
                    }]}
                }
            },
            "Decision": {
                "type": "object",
                "required": ["proposal"],
                "properties": {
                    "proposal": schema_ref("Proposal"),
                    "approvals": {"type": "integer"},
                    "approvals_needed": {"type": "integer"}
                }
            },
            "AuditRecord": {
                "type": "object",
                "required": ["seq", "at", "actor", "event", "subject", "details", "prev_hash", "hash"],
                "properties": {
                    "seq": {"type": "integer", "minimum": 1},
                    "at": time,
                    "actor": {"type": "string"},
                    "event": {"type": "string"},
                    "subject": {"type": "string"},
                    "details": {},
                    "prev_hash": {"type": "string"},
                    "hash": {"type": "string"}
                }
            },
            "Verification": {
                "type": "object",
                "required": ["intact"],
                "properties": {
                    "intact": {"type": "boolean"},
                    "rows": {"type": "integer"},
                    "head": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["seq", "hash"],
                        "properties": {"seq": {"type": "integer"}, "hash": {"type": "string"}}}]},
                    "posted_heads_checked": {"type": "integer"},
                    "broken_at": {"type": "integer"},
                    "reason": {"type": "string"}
                }
            }
        }
    })
}

fn build() -> Value {
    let mut paths = core_paths();
    for (plug, resource) in resources::all() {
        paths.insert(
            format!("/api/v1/{}", resource.name),
            json!({"get": {
                "summary": resource.summary,
                "tags": [plug.name],
                "responses": with_errors(
                    json!({"200": ok(resource.summary, (resource.schema)())}),
                    &[("404", "The feature is off (`feature_off`, with how to turn it on).")],
                ),
            }}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "OpsMate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Approvals, the audit log and what each feature knows, as JSON. Lists are newest first and paged with `limit` and `cursor`."
        },
        "security": [{"bearer": []}],
        "components": components(),
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_resource_and_core_route_is_documented() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/api/v1/approvals",
            "/api/v1/approvals/{id}",
            "/api/v1/approvals/{id}/decision",
            "/api/v1/audit",
            "/api/v1/audit/verify",
            "/api/v1/findings",
            "/api/v1/watchman",
            "/api/v1/access",
            "/api/v1/health",
            "/api/v1/incidents",
            "/api/v1/rollbacks",
        ] {
            assert!(paths.contains_key(path), "{path} is missing");
        }
        // Every reference points at a schema that exists.
        let text = doc.to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(doc["components"]["schemas"].get(&name).is_some(), "{name}");
        }
    }
}
