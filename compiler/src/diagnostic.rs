//! Diagnostics are plain values: the core produces them, the edges render them
//! (codespan for people, JSON for machines, LSP for editors).
//!
//! Every code lives in [`Code`]; `docs/errors.md` has a page per code and a
//! test keeps the two in step.

use crate::db::SourceFile;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: SourceFile,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: SourceFile, start: usize, end: usize) -> Span {
        Span {
            file,
            start: clamp_u32(start),
            end: clamp_u32(end.max(start)),
        }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A secondary label: another place that explains the primary one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Span,
    /// Text under the primary span.
    pub label: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// A severity set by configuration (`-D W0011`, nplc.toml) instead of the code's.
    pub level: Option<Severity>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: String::new(),
            labels: Vec::new(),
            help: None,
            level: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn severity(&self) -> Severity {
        self.level.unwrap_or(self.code.severity())
    }

    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $title:literal; )*) => {
        /// Every diagnostic code the compiler can emit. `E01xx` syntax,
        /// `E02xx` names, `E03xx` validation, `E04xx` target limits, `W0xxx`
        /// warnings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( $variant, )* }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The stable code, e.g. `E0201`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// A short title, the heading of the code's page in docs/errors.md.
            pub fn title(self) -> &'static str {
                match self { $( Code::$variant => $title, )* }
            }
        }
    };
}

codes! {
    SyntaxError = "E0101", "syntax error";
    UnterminatedString = "E0102", "unterminated string";
    InvalidEscape = "E0103", "invalid escape in a string";
    NumberTooLarge = "E0104", "number too large";
    NestingTooDeep = "E0105", "braces nested too deep";
    NotUtf8 = "E0106", "file is not UTF-8 text";
    FileTooLarge = "E0107", "file too large";
    ImportsTooDeep = "E0108", "imports nested too deep";
    UnionsTooDeep = "E0109", "zone unions nested too deep";
    UnknownName = "E0201", "unknown name";
    DuplicateDefinition = "E0202", "name defined twice";
    ImportCycle = "E0203", "import cycle";
    ImportNotFound = "E0204", "imported file not found";
    UnknownStdModule = "E0205", "unknown standard library module";
    WrongKind = "E0206", "wrong kind of name";
    ZoneUnionCycle = "E0207", "zone defined in terms of itself";
    InvalidName = "E0208", "invalid name";
    ReservedPrefix = "E0209", "name with the reserved prefix `nplc-`";
    ReservedTierName = "E0210", "reserved tier name";
    InvalidLabelKey = "E0301", "invalid label key";
    InvalidLabelValue = "E0302", "invalid label value";
    InvalidNamespaceName = "E0303", "invalid namespace name";
    InvalidCidr = "E0304", "invalid CIDR";
    CidrHostBits = "E0305", "CIDR has host bits set";
    ExceptOutsideBase = "E0306", "`except` outside its base CIDR";
    MixedAddressFamilies = "E0307", "IPv4 and IPv6 mixed";
    PortOutOfRange = "E0308", "port out of range";
    InvalidPortRange = "E0309", "empty port range";
    InvalidNamedPort = "E0310", "invalid named port";
    InvalidFqdn = "E0311", "invalid FQDN";
    InvalidHttpMethod = "E0312", "invalid HTTP method";
    InvalidPathRegex = "E0313", "invalid HTTP path regex";
    L7NeedsTcp = "E0314", "L7 rules need TCP ports";
    DnsNeedsPort53 = "E0315", "`dns` rules need port 53";
    ConflictingZoneLines = "E0316", "conflicting lines in a zone";
    InvalidGateway = "E0317", "invalid gateway";
    ViaNeedsFqdn = "E0318", "`via` needs an FQDN destination";
    IcmpOutOfRange = "E0319", "ICMP type or code out of range";
    UnknownIcmpType = "E0320", "unknown ICMP type name";
    NotExact = "E0401", "allowed connections not exactly computable";
    FqdnNeedsVia = "E0402", "target cannot match host names";
    L7NotSupported = "E0403", "target cannot filter L7";
    IcmpNotSupported = "E0404", "target cannot match ICMP";
    EntityNotExpressible = "E0405", "target has no selector for this peer";
    NeedsNamespaces = "E0406", "namespaces selected by label need an inventory";
    MixedL4L7 = "E0407", "L4-only and L7 rules on the same port";
    DenyNotExpressible = "E0408", "deny not expressible on target";
    GatewayNotAddressable = "E0420", "gateway cannot be addressed by Istio";
    WildcardViaHost = "E0421", "wildcard host through an egress gateway";
    ViaSourceNotScoped = "E0422", "`via` source not scoped to named namespaces";
    ViaPortNotRoutable = "E0423", "port not routable through the egress gateway";
    ViaL7NotRoutable = "E0424", "filter not applicable at the egress gateway";
    ViaHostConflict = "E0425", "host routed two ways";
    LogWithFilter = "E0426", "`log` with an L7 filter or `via`";
    IcmpCodeNotSupported = "E0435", "target matches ICMP types, not codes";
    UnusedDefinition = "W0001", "unused definition";
    AllowAllPorts = "W0002", "`allow` without ports";
    EmptyZone = "W0003", "zone selects nothing";
    DuplicateImport = "W0004", "module imported twice";
    ViaWithoutIstio = "W0005", "`via` without the istio target";
    NoDnsEgress = "W0006", "isolated zone without DNS egress";
    ClusterAddress = "W0007", "address inside the cluster's ranges";
    HostAddress = "W0008", "hard-coded host address";
    ShadowedRule = "W0009", "rule shadowed by a rule that decides first";
    RuleMatchesNothing = "W0010", "rule matches no connection";
    UselessDeny = "W0011", "`deny` that changes nothing";
    ProfileOnPlatform = "W0012", "homelab profile on a platform namespace";
    LogNotSupported = "W0013", "target has no log action";
    UnrangedAddressBlock = "W0014", "address block may match pods: the cluster's ranges are unknown";
    HostLeftToPlatform = "W0015", "egress to the node left to the platform";
}

impl Code {
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sorts diagnostics by file order, position, then code, and drops exact
/// duplicates, so every edge shows them in the same stable order.
pub fn sort_diagnostics(diags: &mut Vec<Diagnostic>, file_order: impl Fn(SourceFile) -> usize) {
    diags.sort_by(|a, b| {
        (
            file_order(a.span.file),
            a.span.start,
            a.span.end,
            a.code,
            &a.message,
        )
            .cmp(&(
                file_order(b.span.file),
                b.span.start,
                b.span.end,
                b.code,
                &b.message,
            ))
    });
    diags.dedup();
}
