//! `nplc query`: is one connection allowed, and which rules (or which
//! isolation default) decided it — answered by the reference evaluator.

use std::path::PathBuf;

use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::answers::describe::{location, source_text, tidy};
use nplc_compiler::answers::endpoint::{self, ENDPOINT_FORMS, PORT_FORMS};
use nplc_compiler::diagnostic::Span;
use nplc_compiler::eval::{self, Connection, Decision, Request, Transport, Verdict};
use nplc_compiler::ir::{self, Ir};
use nplc_compiler::{render, Db};
use serde_json::{json, Value};

use crate::program;
use crate::report::{print_stdout, Outcome, OutputArgs};

#[derive(clap::Args)]
#[command(after_help = QUERY_HELP)]
pub struct QueryArgs {
    /// Files, directories (searched recursively for *.npl) or `-` for standard input.
    paths: Vec<PathBuf>,
    /// The endpoint that opens the connection (see ENDPOINT below).
    #[arg(long, value_name = "ENDPOINT")]
    from: String,
    /// The endpoint it connects to (see ENDPOINT below).
    #[arg(long, value_name = "ENDPOINT")]
    to: String,
    /// The destination port: 8080 (TCP), tcp/8080, udp/53, sctp/3868, or an ICMP message: icmp/8, icmp/3/4 (type/code), icmpv6/echo-request (plain icmp: an IPv4 echo request).
    #[arg(long, value_name = "PORT")]
    port: String,
    /// One HTTP request on the connection, "METHOD /path", judged by L7 rules.
    #[arg(long, value_name = "REQUEST", conflicts_with = "dns")]
    http: Option<String>,
    /// One DNS query on the connection, for the name given, judged by L7 rules.
    #[arg(long, value_name = "NAME")]
    dns: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

const QUERY_HELP: &str = concat!(
    nplc_compiler::endpoint_forms!(),
    "\n\n",
    "Without --http or --dns the connection is judged at L4: an allow with an L7 filter lets it\n",
    "through for matching requests only (reported as such), a deny with one does not stop it.\n",
    "\n",
    "Exit status: 0 answered (allowed or denied), 1 errors in the program, 2 misuse.\n",
    "\n",
    "Examples:\n",
    "  nplc query policy/ --from ns=frontend,app=web --to ns=backend,app=api --port 8080\n",
    "  nplc query policy/ --from ns=shop --to fqdn:api.stripe.com --port tcp/443\n",
    "  nplc query policy/ --from world --to ns=shop,app=web,port:http=8080 --port 8080 --http \"GET /api\"\n",
    "  nplc query policy/ --from ns=app --to ns=kube-system,k8s-app=kube-dns --port udp/53 --format json"
);

pub fn query(args: &QueryArgs) -> Outcome {
    let conn = match connection(args) {
        Ok(c) => c,
        Err(message) => return Outcome::Misuse(message),
    };
    let (db, program) = match program::load(&args.paths, &args.output) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
    let Some(ir) = ir::lower(&db, program).as_ref() else {
        return Outcome::InputErrors;
    };
    let verdict = eval::evaluate(ir, &conn);
    if args.output.is_json() {
        let value = json_answer(&db, &verdict);
        let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_string());
        print_stdout(&format!("{text}\n"));
    } else {
        print_stdout(&human(&db, ir, &conn, &verdict, args.output.stdout_color()));
    }
    Outcome::Clean
}

/// The connection the arguments describe, or a misuse message.
fn connection(args: &QueryArgs) -> Result<Connection, String> {
    let source = endpoint::parse_endpoint(&args.from).map_err(|e| {
        format!(
            "bad --from endpoint `{}`: {e}\n\n{ENDPOINT_FORMS}",
            args.from
        )
    })?;
    let destination = endpoint::parse_endpoint(&args.to)
        .map_err(|e| format!("bad --to endpoint `{}`: {e}\n\n{ENDPOINT_FORMS}", args.to))?;
    let transport = endpoint::parse_port(&args.port)
        .map_err(|e| format!("bad --port `{}`: {e}\n{PORT_FORMS}", args.port))?;
    let request = match (&args.http, &args.dns) {
        (Some(http), _) => {
            if !matches!(transport, Transport::Port(Protocol::Tcp, _)) {
                return Err(format!(
                    "--http needs a TCP port (--port 8080 or tcp/8080), not {}",
                    endpoint::show_transport(transport)
                ));
            }
            Some(endpoint::parse_http(http).map_err(|e| format!("bad --http: {e}"))?)
        }
        (None, Some(name)) => {
            if matches!(transport, Transport::Icmp(_)) {
                return Err("--dns needs a port (e.g. --port udp/53), not icmp".to_string());
            }
            if name.trim().is_empty() {
                return Err("--dns needs a name, e.g. --dns api.example.com".to_string());
            }
            Some(Request::Dns {
                name: name.trim().to_string(),
            })
        }
        (None, None) => None,
    };
    Ok(Connection {
        source,
        destination,
        transport,
        request,
    })
}

fn human(db: &dyn Db, ir: &Ir, conn: &Connection, verdict: &Verdict, color: bool) -> String {
    let answer = match (verdict.allowed, verdict.l7_restricted) {
        (false, _) => "denied",
        (true, false) => "allowed",
        (true, true) => "allowed for matching requests only",
    };
    let request = match &conn.request {
        Some(Request::Http { method, path }) => format!(" ({method} {path})"),
        Some(Request::Dns { name }) => format!(" (DNS query for {name})"),
        None => String::new(),
    };
    let mut out = format!(
        "{answer}: {} -> {} on {}{request}\n",
        endpoint::show_endpoint(&conn.source),
        endpoint::show_endpoint(&conn.destination),
        endpoint::show_transport(conn.transport),
    );
    match &verdict.decision {
        Decision::Tier { tier, rules } => {
            let action = if verdict.allowed { "allow" } else { "deny" };
            let plural = if rules.len() == 1 { "" } else { "s" };
            out.push_str(&format!(
                "decided in tier `{tier}` by {} matching {action} rule{plural}",
                rules.len()
            ));
            if verdict.l7_restricted {
                let filter = if rules.len() == 1 {
                    "its L7 filter lets only matching requests through"
                } else {
                    "their L7 filters let only matching requests through"
                };
                out.push_str(&format!(
                    "; {filter} (ask about one with --http \"METHOD /path\" or --dns NAME)"
                ));
            }
            out.push_str(":\n\n");
            let notes: Vec<(Span, String)> = rules
                .iter()
                .map(|span| (tidy(db, *span), rule_note(ir, tier, *span, conn, action)))
                .collect();
            out.push_str(&render::snippets(db, &notes, color));
        }
        Decision::Isolation {
            source_zones,
            destination_zones,
        } => {
            out.push_str(&isolation_words(source_zones, destination_zones));
            let notes: Vec<(Span, String)> = zone_notes(ir, source_zones, "egress")
                .into_iter()
                .chain(zone_notes(ir, destination_zones, "ingress"))
                .collect();
            if !notes.is_empty() {
                out.push('\n');
                out.push_str(&render::snippets(db, &notes, color));
            }
        }
    }
    out
}

/// What a deciding rule is, with the part of a `via` rule it was.
fn rule_note(ir: &Ir, tier: &str, span: Span, conn: &Connection, action: &str) -> String {
    let roles: Vec<&'static str> = ir
        .tiers
        .iter()
        .filter(|t| t.name == tier)
        .flat_map(|t| t.rules.iter())
        .filter(|r| r.span == span && eval::rule_matches(r, conn))
        .filter_map(|r| eval::role_note(r.role))
        .collect();
    let mut note = format!("{action} rule in tier `{tier}`");
    if !roles.is_empty() {
        note.push_str(&format!(" ({})", roles.join("; ")));
    }
    note
}

fn isolation_words(source_zones: &[String], destination_zones: &[String]) -> String {
    let zones = |names: &[String]| {
        let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let noun = if names.len() == 1 { "zone" } else { "zones" };
        format!("{noun} {}", list.join(", "))
    };
    if source_zones.is_empty() && destination_zones.is_empty() {
        return "no rule matched; allowed by default: the source is in no zone isolated for \
                egress and the destination in no zone isolated for ingress\n"
            .to_string();
    }
    let mut out = String::from("no rule matched; denied by the isolation default:\n");
    if !source_zones.is_empty() {
        out.push_str(&format!(
            "  the source is in {}, isolated for egress\n",
            zones(source_zones)
        ));
    }
    if !destination_zones.is_empty() {
        out.push_str(&format!(
            "  the destination is in {}, isolated for ingress\n",
            zones(destination_zones)
        ));
    }
    out
}

fn zone_notes(ir: &Ir, names: &[String], direction: &str) -> Vec<(Span, String)> {
    names
        .iter()
        .filter_map(|name| {
            let zone = ir.zone_named(name)?;
            Some((
                zone.span?,
                format!("zone `{name}` is isolated for {direction}"),
            ))
        })
        .collect()
}

fn json_answer(db: &dyn Db, verdict: &Verdict) -> Value {
    let decision = match &verdict.decision {
        Decision::Tier { tier, rules } => json!({
            "kind": "tier",
            "tier": tier,
            "rules": rules.iter().map(|s| json_span(db, *s)).collect::<Vec<_>>(),
        }),
        Decision::Isolation {
            source_zones,
            destination_zones,
        } => json!({
            "kind": "isolation",
            "source_zones": source_zones,
            "destination_zones": destination_zones,
        }),
    };
    json!({
        "allowed": verdict.allowed,
        "l7_restricted": verdict.l7_restricted,
        "decision": decision,
    })
}

/// A rule for machines: file, start and end positions, source text.
fn json_span(db: &dyn Db, span: Span) -> Value {
    let span = tidy(db, span);
    json!({
        "file": span.file.path(db),
        "start": render::position(db, span.file, span.start as usize),
        "end": render::position(db, span.file, span.end as usize),
        "text": source_text(db, span),
        "location": location(db, span),
    })
}
