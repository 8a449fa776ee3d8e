//! Turns the raw TOML structs into a checked `Scenario`, or the first error with its position.
//! Rules: loopback addresses only, owner names under `.test`, no duplicate hosts or addresses.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::behaviour::{
    Behaviour, CloseAfter, Concurrency, DataMode, FailCommand, FailFirst, Greylist, MailboxSet,
    Quirks, RateLimit, Reply, Submission, Tarpit, TlsMode,
};
use super::raw::{
    RawBehaviour, RawDnsbl, RawDomain, RawHost, RawNode, RawScenario, RawSubmission, S,
};
use super::{
    ClientOverride, Dnsbl, DnsblKind, Dnssec, Domain, Failure, FailureKind, Host, Listed, MtaSts,
    Node, PtrRecord, Record, Scenario, ScenarioError, TlsaKey,
};

/// Generated mailboxes per scenario; a typo in `count` should not eat the machine's memory.
const MAX_MAILBOXES: u64 = 1_000_000;
/// Longest delay a scenario may ask for: the lab must stay usable by tests.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// Record types a failure may be limited to.
const TYPES: [&str; 13] = [
    "A", "AAAA", "MX", "TXT", "CNAME", "TLSA", "NS", "SOA", "PTR", "SRV", "CAA", "HTTPS", "ANY",
];

pub(super) fn parse(text: &str, file: &str, stem: &str) -> Result<Scenario, ScenarioError> {
    let cx = Cx {
        text,
        file,
        private_records: std::cell::Cell::new(false),
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.error(span, e.message().trim_end().to_owned())
    })?;
    cx.scenario(raw, stem)
}

/// Validation context: the source text (for line/column) and the file name.
struct Cx<'a> {
    text: &'a str,
    file: &'a str,
    /// `[lab] private_records = true`: A/AAAA records may hold non-public special addresses.
    private_records: std::cell::Cell<bool>,
}

type R<T> = Result<T, ScenarioError>;

impl Cx<'_> {
    fn error(&self, span: Range<usize>, message: String) -> ScenarioError {
        let (line, column) = line_col(self.text, span.start);
        // Messages quote the file's text (keys, values): keep terminal escapes out of them.
        let message = message
            .chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect();
        ScenarioError::Invalid {
            file: self.file.to_owned(),
            line,
            column,
            message,
        }
    }

    fn at<T>(&self, s: &Spanned<T>, message: String) -> ScenarioError {
        self.error(s.span(), message)
    }

    fn scenario(&self, raw: RawScenario, stem: &str) -> R<Scenario> {
        let (name, description) = match raw.lab {
            Some(l) => {
                self.private_records.set(l.private_records);
                (l.name.unwrap_or_else(|| stem.to_owned()), l.description)
            }
            None => (stem.to_owned(), None),
        };

        let mut domains = Vec::new();
        let mut seen_domains: HashMap<String, Range<usize>> = HashMap::new();
        for d in raw.domains {
            let domain = self.domain(d, &mut seen_domains)?;
            domains.push(domain);
        }

        let mut dnsbls = Vec::new();
        for b in raw.dnsbls {
            let zone_span = b.zone.span();
            let bl = self.dnsbl(b)?;
            if seen_domains.contains_key(&bl.zone) {
                return Err(self.error(zone_span, format!("zone {:?} is declared twice", bl.zone)));
            }
            seen_domains.insert(bl.zone.clone(), zone_span);
            dnsbls.push(bl);
        }

        let mut hosts = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut addrs: HashMap<IpAddr, usize> = HashMap::new();
        for h in raw.hosts {
            let name_span = h.name.span();
            let addr_span = h.address.span();
            let host = self.host(h)?;
            if let Some(line) = names.get(&host.name) {
                return Err(self.error(
                    name_span,
                    format!(
                        "duplicate host name {:?} (first declared on line {line})",
                        host.name
                    ),
                ));
            }
            if let Some(line) = addrs.get(&host.address) {
                return Err(self.error(
                    addr_span,
                    format!(
                        "duplicate host address {} (already used by the host on line {line})",
                        host.address
                    ),
                ));
            }
            let line = line_col(self.text, name_span.start).0;
            names.insert(host.name.clone(), line);
            addrs.insert(host.address, line);
            hosts.push(host);
        }

        let mut ptrs = Vec::new();
        for p in raw.ptr {
            let address = self.address(&p.address)?;
            let name = self.target_name(&p.name)?;
            ptrs.push(PtrRecord { address, name });
        }

        Ok(Scenario {
            name,
            description: description.unwrap_or_default(),
            domains,
            dnsbls,
            hosts,
            ptrs,
        })
    }

    fn domain(&self, d: RawDomain, seen: &mut HashMap<String, Range<usize>>) -> R<Domain> {
        let name = self.owner_name(&d.name)?;
        if seen.contains_key(&name) {
            return Err(self.at(&d.name, format!("domain {name:?} is declared twice")));
        }
        seen.insert(name.clone(), d.name.span());

        let apex = RawNode {
            name: Spanned::new(d.name.span(), "@".to_owned()),
            mx: d.mx,
            a: d.a,
            aaaa: d.aaaa,
            cname: None,
            txt: d.txt,
            tlsa: d.tlsa,
            failure: d.failure,
            failure_types: d.failure_types,
            rotate: None,
        };
        let mut nodes = vec![self.node(apex, &name)?];
        let mut node_names: HashSet<String> = HashSet::from([name.clone()]);
        for n in d.records {
            let span = n.name.span();
            let node = self.node(n, &name)?;
            if !node_names.insert(node.name.clone()) {
                return Err(self.error(
                    span,
                    format!("name {:?} is declared twice in this domain", node.name),
                ));
            }
            nodes.push(node);
        }

        let mta_sts = match d.mta_sts {
            None => None,
            Some(m) => {
                let mode = match &m.mode {
                    None => "enforce".to_owned(),
                    Some(s) if matches!(s.get_ref().as_str(), "enforce" | "testing" | "none") => {
                        s.get_ref().clone()
                    }
                    Some(s) => {
                        return Err(self.at(
                            s,
                            format!(
                                "unknown MTA-STS mode {:?} (expected enforce, testing or none)",
                                s.get_ref()
                            ),
                        ));
                    }
                };
                let mut mx = Vec::new();
                for s in &m.mx {
                    mx.push(self.pattern_name(s)?);
                }
                if mx.is_empty() {
                    // Default to the domain's own MX hosts, which is what a correct policy says.
                    mx = nodes[0]
                        .records
                        .iter()
                        .filter_map(|r| match r {
                            Record::Mx { exchange, .. } if exchange != "." => {
                                Some(exchange.clone())
                            }
                            _ => None,
                        })
                        .collect();
                }
                let id = match &m.id {
                    Some(s) => {
                        let id = s.get_ref();
                        if id.is_empty()
                            || id.len() > 32
                            || !id.chars().all(|c| c.is_ascii_alphanumeric())
                        {
                            return Err(
                                self.at(s, "MTA-STS id must be 1 to 32 letters or digits".into())
                            );
                        }
                        id.clone()
                    }
                    None => "lab1".to_owned(),
                };
                let policy = match m.policy {
                    Some(p) => p,
                    None => {
                        let mut p = format!("version: STSv1\r\nmode: {mode}\r\n");
                        for m in &mx {
                            p.push_str(&format!("mx: {m}\r\n"));
                        }
                        p.push_str(&format!("max_age: {}\r\n", m.max_age.unwrap_or(86400)));
                        p
                    }
                };
                if policy.len() > 64 * 1024 {
                    return Err(self.at(&d.name, "MTA-STS policy is longer than 64 KiB".into()));
                }
                Some(MtaSts {
                    policy,
                    id,
                    txt_record: m.txt_record.unwrap_or(true),
                })
            }
        };
        let dnssec = match &d.dnssec {
            None => None,
            Some(v) => match v.get_ref() {
                toml::Value::Boolean(false) => None,
                toml::Value::Boolean(true) => Some(Dnssec::Signed),
                toml::Value::String(s) if s == "signed" => Some(Dnssec::Signed),
                toml::Value::String(s) if s == "expired" => Some(Dnssec::Expired),
                toml::Value::String(s) if s == "wrong-key" => Some(Dnssec::WrongKey),
                _ => {
                    return Err(self.error(
                        v.span(),
                        "dnssec must be true, false, \"expired\" or \"wrong-key\"".to_owned(),
                    ));
                }
            },
        };
        Ok(Domain {
            name,
            nodes,
            mta_sts,
            dnssec,
        })
    }

    fn node(&self, n: RawNode, domain: &str) -> R<Node> {
        let rel = n.name.get_ref().trim().to_ascii_lowercase();
        let name = if rel == "@" {
            domain.to_owned()
        } else if let Some(abs) = rel.strip_suffix('.') {
            abs.to_owned()
        } else if rel == domain || rel.ends_with(&format!(".{domain}")) {
            rel
        } else {
            format!("{rel}.{domain}")
        };
        check_name(&name).map_err(|m| self.at(&n.name, m))?;
        if name != domain && !name.ends_with(&format!(".{domain}")) {
            return Err(self.at(
                &n.name,
                format!("name {name:?} is not inside domain {domain:?}"),
            ));
        }
        let mut records = Vec::new();
        for s in &n.mx {
            records.push(self.mx(s)?);
        }
        for s in &n.a {
            match self.record_address(s)? {
                IpAddr::V4(v4) => records.push(Record::A(v4)),
                IpAddr::V6(_) => {
                    return Err(self.at(s, "an IPv6 address belongs in `aaaa`".into()));
                }
            }
        }
        for s in &n.aaaa {
            match self.record_address(s)? {
                IpAddr::V6(v6) => records.push(Record::Aaaa(v6)),
                IpAddr::V4(_) => {
                    return Err(self.at(s, "an IPv4 address belongs in `a`".into()));
                }
            }
        }
        if let Some(s) = &n.cname {
            if !records.is_empty() || !n.txt.is_empty() || !n.tlsa.is_empty() {
                return Err(self.at(s, "a CNAME cannot sit beside other records".into()));
            }
            records.push(Record::Cname(self.target_name(s)?));
        }
        for s in &n.txt {
            if s.get_ref().len() > 4000 {
                return Err(self.at(s, "TXT value is longer than 4000 bytes".into()));
            }
            records.push(Record::Txt(s.get_ref().clone()));
        }
        for s in &n.tlsa {
            records.push(self.tlsa(s)?);
        }
        let failure = self.failure(n.failure.as_ref(), &n.failure_types)?;
        let rotate = match &n.rotate {
            Some(r) if *r.get_ref() => {
                if n.a.len() < 2 && n.aaaa.len() < 2 {
                    return Err(self.error(
                        r.span(),
                        "`rotate` needs two addresses or more in `a` or `aaaa`".into(),
                    ));
                }
                true
            }
            _ => false,
        };
        Ok(Node {
            name,
            records,
            failure,
            rotate,
        })
    }

    fn failure(&self, kind: Option<&S>, types: &[S]) -> R<Option<Failure>> {
        let Some(k) = kind else {
            if let Some(t) = types.first() {
                return Err(self.at(t, "`failure_types` without `failure`".into()));
            }
            return Ok(None);
        };
        let kind = match k.get_ref().as_str() {
            "servfail" => FailureKind::ServFail,
            "refused" => FailureKind::Refused,
            "nxdomain" => FailureKind::NxDomain,
            "timeout" => FailureKind::Timeout,
            "truncate" => FailureKind::Truncate,
            other => {
                return Err(self.at(
                    k,
                    format!(
                        "unknown failure {other:?} (expected servfail, refused, nxdomain, timeout or truncate)"
                    ),
                ));
            }
        };
        let mut out = Vec::new();
        for t in types {
            let up = t.get_ref().to_ascii_uppercase();
            if !TYPES.contains(&up.as_str()) {
                return Err(self.at(
                    t,
                    format!(
                        "unknown record type {:?} (expected one of {})",
                        t.get_ref(),
                        TYPES.join(", ")
                    ),
                ));
            }
            out.push(up);
        }
        Ok(Some(Failure { kind, types: out }))
    }

    fn mx(&self, s: &S) -> R<Record> {
        let v = s.get_ref().trim();
        let (pref, exchange) = v.split_once(char::is_whitespace).ok_or_else(|| {
            self.at(
                s,
                format!("MX {v:?} must be \"PREFERENCE EXCHANGE\" (e.g. \"10 mx1.example.test\" or \"0 .\")"),
            )
        })?;
        let preference: u16 = pref.parse().map_err(|_| {
            self.at(
                s,
                format!("MX preference {pref:?} is not a number from 0 to 65535"),
            )
        })?;
        let exchange = exchange.trim().to_ascii_lowercase();
        let exchange = if exchange == "." {
            exchange
        } else {
            let e = exchange.trim_end_matches('.').to_owned();
            check_name(&e).map_err(|m| self.at(s, m))?;
            e
        };
        Ok(Record::Mx {
            preference,
            exchange,
        })
    }

    fn tlsa(&self, s: &S) -> R<Record> {
        let parts: Vec<&str> = s.get_ref().split_whitespace().collect();
        let bad = || {
            self.at(
                s,
                "TLSA must be \"USAGE SELECTOR MATCHING HEX\" (e.g. \"3 1 1 0a1b...\")".into(),
            )
        };
        let [u, sel, m, rest @ ..] = parts.as_slice() else {
            return Err(bad());
        };
        if let [key] = rest
            && key.starts_with('@')
        {
            // A placeholder for a key the lab makes at start: SPKI SHA-256 only.
            let usage: u8 = u.parse().map_err(|_| bad())?;
            if (*sel, *m) != ("1", "1") {
                return Err(self.at(s, format!("TLSA {key}: placeholders stand for a key's SHA-256, so selector and matching type must be 1 1 (e.g. \"3 1 1 @leaf(mx.example.test)\")")));
            }
            let key =
                match key.to_ascii_lowercase().as_str() {
                    "@ca" => TlsaKey::Ca,
                    k => match k.strip_prefix("@leaf(").and_then(|r| r.strip_suffix(')')) {
                        Some(host) if !host.is_empty() => {
                            TlsaKey::Leaf(host.trim_end_matches('.').to_string())
                        }
                        _ => return Err(self.at(
                            s,
                            format!(
                                "TLSA {key}: give @ca or @leaf(HOST), HOST a lab host with STARTTLS"
                            ),
                        )),
                    },
                };
            return Ok(Record::TlsaKey { usage, key });
        }
        let hex: String = rest.concat();
        let usage = u.parse().map_err(|_| bad())?;
        let selector = sel.parse().map_err(|_| bad())?;
        let matching = m.parse().map_err(|_| bad())?;
        if hex.is_empty() || !hex.len().is_multiple_of(2) || hex.len() > 4096 {
            return Err(bad());
        }
        let mut data = Vec::with_capacity(hex.len() / 2);
        for i in (0..hex.len()).step_by(2) {
            let byte = hex
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(bad)?;
            data.push(byte);
        }
        Ok(Record::Tlsa {
            usage,
            selector,
            matching,
            data,
        })
    }

    fn dnsbl(&self, b: RawDnsbl) -> R<Dnsbl> {
        let zone = self.owner_name(&b.zone)?;
        let kind = match &b.kind {
            None => DnsblKind::Ip,
            Some(k) => match k.get_ref().as_str() {
                "ip" => DnsblKind::Ip,
                "domain" => DnsblKind::Domain,
                other => {
                    return Err(self.at(
                        k,
                        format!("unknown DNSBL kind {other:?} (expected ip or domain)"),
                    ));
                }
            },
        };
        let test_entries = b.test_entries.unwrap_or(true);
        let mut listed = Vec::new();
        let mut seen = HashSet::new();
        for l in b.listed {
            let entry = match kind {
                DnsblKind::Ip => {
                    let addr = self.address(&l.entry)?;
                    if test_entries && addr == IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)) {
                        return Err(self.at(
                            &l.entry,
                            "127.0.0.1 must not be listed: RFC 5782 reserves it as the never-listed test entry (set test_entries = false to list it anyway)".into(),
                        ));
                    }
                    addr.to_string()
                }
                DnsblKind::Domain => {
                    // Entries are data (RFC 5782 uses the bare names TEST and INVALID);
                    // the name queried, ENTRY.ZONE, is under the zone and so under .test.
                    let name = self.target_name(&l.entry)?;
                    if test_entries && name == "invalid" {
                        return Err(
                            self.at(&l.entry, "INVALID must not be listed (RFC 5782)".into())
                        );
                    }
                    name
                }
            };
            if !seen.insert(entry.clone()) {
                return Err(self.at(&l.entry, format!("{entry} is listed twice")));
            }
            let code = match &l.code {
                None => Ipv4Addr::new(127, 0, 0, 2),
                Some(c) => match c.get_ref().parse::<Ipv4Addr>() {
                    Ok(a) if a.octets()[0] == 127 => a,
                    _ => {
                        return Err(self.at(
                            c,
                            format!(
                                "DNSBL code {:?} must be an IPv4 address in 127.0.0.0/8",
                                c.get_ref()
                            ),
                        ));
                    }
                },
            };
            let reason = l
                .reason
                .unwrap_or_else(|| format!("{entry} is listed in {zone} (mxray lab)"));
            listed.push(Listed {
                entry,
                code,
                reason,
            });
        }
        Ok(Dnsbl {
            zone,
            kind,
            test_entries,
            listed,
        })
    }

    fn host(&self, mut h: RawHost) -> R<Host> {
        let name = self.owner_name(&h.name)?;
        let address = self.address(&h.address)?;
        let ptr = match (&h.ptr, h.no_ptr.unwrap_or(false)) {
            (Some(p), true) => {
                return Err(self.at(p, "`ptr` and `no_ptr = true` contradict".into()));
            }
            (Some(p), false) => Some(self.target_name(p)?),
            (None, true) => None,
            (None, false) => Some(name.clone()),
        };
        let raw = h.take_behaviour();
        let mut base = Behaviour::default();
        self.apply(&mut base, raw, &h.name)?;
        let base = Arc::new(base);
        let mut clients = Vec::new();
        let mut seen = HashSet::new();
        for mut c in std::mem::take(&mut h.clients) {
            let mut addresses = Vec::new();
            for a in &c.addresses {
                let ip = self.address(a)?;
                if !seen.insert(ip) {
                    return Err(self.at(
                        a,
                        format!("client address {ip} has two overrides on this host"),
                    ));
                }
                addresses.push(ip);
            }
            if addresses.is_empty() {
                return Err(self.at(
                    &h.name,
                    "a client override needs at least one address".into(),
                ));
            }
            let anchor = c.addresses[0].clone();
            let mut b = (*base).clone();
            self.apply(&mut b, c.take_behaviour(), &anchor)?;
            clients.push(ClientOverride {
                addresses,
                behaviour: Arc::new(b),
            });
        }
        Ok(Host {
            name,
            address,
            ptr,
            behaviour: base,
            clients,
        })
    }

    /// Applies the keys present in `raw` onto `b`; `anchor` locates errors without a span.
    fn apply(&self, b: &mut Behaviour, raw: RawBehaviour, anchor: &S) -> R<()> {
        if raw.mailboxes.is_some() || raw.mailbox_ranges.is_some() {
            let mut set = MailboxSet::default();
            for s in raw.mailboxes.iter().flatten() {
                set.insert(&self.mailbox(s)?);
            }
            let mut total: u64 = set.len() as u64;
            for r in raw.mailbox_ranges.iter().flatten() {
                let prefix = self.mailbox(&r.prefix)?;
                if prefix.contains('@') {
                    return Err(self.at(
                        &r.prefix,
                        "a range prefix is a local part; use `domain` for the domain".into(),
                    ));
                }
                total += u64::from(*r.count.get_ref());
                if total > MAX_MAILBOXES {
                    return Err(self.at(
                        &r.count,
                        format!("more than {MAX_MAILBOXES} mailboxes on one host"),
                    ));
                }
                let domain = match &r.domain {
                    Some(d) => Some(self.owner_name(d)?),
                    None => None,
                };
                let start = r.start.unwrap_or(1);
                for i in 0..*r.count.get_ref() {
                    let n = u64::from(start) + u64::from(i);
                    match &domain {
                        Some(d) => set.insert(&format!("{prefix}{n}@{d}")),
                        None => set.insert(&format!("{prefix}{n}")),
                    }
                }
            }
            b.mailboxes = Arc::new(set);
        }
        if let Some(v) = raw.catch_all {
            b.catch_all = v;
        }
        if let Some(list) = &raw.mailbox_full {
            b.mailbox_full = Arc::new(self.mailbox_set(list)?);
        }
        if let Some(list) = &raw.over_quota {
            b.over_quota = Arc::new(self.mailbox_set(list)?);
        }
        if let Some(list) = &raw.disabled {
            b.disabled = Arc::new(self.mailbox_set(list)?);
        }
        if let Some(g) = &raw.greylist {
            b.greylist = Some(Greylist {
                delay: self.duration(&g.delay)?,
                reply: self.reply_or(
                    g.reply.as_ref(),
                    "450 4.2.0 Greylisted, please try again later",
                )?,
            });
        }
        if let Some(r) = &raw.rate_limit {
            if *r.connections.get_ref() == 0 {
                return Err(self.at(&r.connections, "`connections` must be at least 1".into()));
            }
            let per = self.duration(&r.per)?;
            if per.is_zero() {
                return Err(self.at(&r.per, "`per` must be longer than 0".into()));
            }
            b.rate_limit = Some(RateLimit {
                connections: *r.connections.get_ref(),
                per,
                reply: self.reply_or(
                    r.reply.as_ref(),
                    "421 4.7.0 Too many connections, slow down",
                )?,
            });
        }
        if let Some(c) = &raw.concurrency {
            if *c.per_client.get_ref() == 0 {
                return Err(self.at(&c.per_client, "`per_client` must be at least 1".into()));
            }
            b.concurrency = Some(Concurrency {
                per_client: *c.per_client.get_ref(),
                reply: self.reply_or(
                    c.reply.as_ref(),
                    "421 4.7.0 Too many concurrent connections from your address",
                )?,
            });
        }
        if let Some(s) = &raw.banner {
            b.banner = Some(self.reply(s)?);
        }
        if let Some(c) = &raw.close_after {
            let bare = c.bare.unwrap_or(false);
            if bare && c.reply.is_some() {
                return Err(self.at(
                    anchor,
                    "close_after: `reply` and `bare = true` contradict".into(),
                ));
            }
            b.close_after = Some(CloseAfter {
                commands: c.commands,
                reply: if bare {
                    None
                } else {
                    Some(self.reply_or(
                        c.reply.as_ref(),
                        "421 4.4.2 Connection closed by the server",
                    )?)
                },
            });
        }
        if let Some(s) = &raw.rcpt_reply {
            b.rcpt_reply = Some(self.reply(s)?);
        }
        if let Some(s) = &raw.ehlo_reply {
            b.ehlo_reply = Some(self.reply(s)?);
        }
        if let Some(n) = &raw.rcpt_limit {
            if *n.get_ref() == 0 {
                return Err(self.at(n, "`rcpt_limit` must be at least 1".into()));
            }
            b.rcpt_limit = Some(*n.get_ref());
        }
        if let Some(t) = &raw.tarpit {
            b.tarpit = Tarpit {
                banner_delay: t
                    .banner_delay
                    .as_ref()
                    .map(|d| self.duration(d))
                    .transpose()?
                    .unwrap_or_default(),
                reply_delay: t
                    .reply_delay
                    .as_ref()
                    .map(|d| self.duration(d))
                    .transpose()?
                    .unwrap_or_default(),
            };
        }
        if let Some(s) = &raw.latency {
            b.latency = self.duration(s)?;
        }
        if let Some(v) = raw.silent {
            b.silent = v;
        }
        if let Some(v) = raw.refuse {
            b.refuse = v;
        }
        if let Some(s) = &raw.starttls {
            b.starttls = TlsMode::parse(s.get_ref()).ok_or_else(|| {
                self.at(
                    s,
                    format!(
                        "unknown starttls mode {:?} (expected valid, expired, self-signed, wrong-name, broken or none)",
                        s.get_ref()
                    ),
                )
            })?;
        }
        if let Some(list) = &raw.quirks {
            let mut q = Quirks::default();
            for s in list {
                if !q.set(s.get_ref()) {
                    return Err(self.at(
                        s,
                        format!(
                            "unknown quirk {:?} (expected one of {})",
                            s.get_ref(),
                            Quirks::NAMES.join(", ")
                        ),
                    ));
                }
            }
            b.quirks = q;
        }
        if let Some(s) = &raw.data {
            b.data = match s.get_ref().as_str() {
                "accept" => DataMode::Accept,
                "reject" => DataMode::Reject,
                other => {
                    return Err(self.at(
                        s,
                        format!("unknown data mode {other:?} (expected accept or reject)"),
                    ));
                }
            };
        }
        if let Some(sub) = &raw.submission {
            b.submission = Some(Arc::new(self.submission(sub)?));
        }
        Ok(())
    }

    fn submission(&self, raw: &RawSubmission) -> R<Submission> {
        // The credentials travel base64-encoded, but the lab compares them as text: keep them
        // printable so a scenario cannot hold an account no client could type.
        for s in [&raw.user, &raw.password] {
            let v = s.get_ref();
            if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
                return Err(self.at(
                    s,
                    "`user` and `password` must be 1 to 256 characters, none of them control characters"
                        .into(),
                ));
            }
        }
        let fail_first = match &raw.fail_first {
            None => None,
            Some(f) => {
                let command = match f.command.get_ref().to_ascii_uppercase().as_str() {
                    "MAIL" => FailCommand::Mail,
                    "DATA" => FailCommand::Data,
                    other => {
                        return Err(self.at(
                            &f.command,
                            format!("unknown command {other:?} (expected MAIL or DATA)"),
                        ));
                    }
                };
                if *f.count.get_ref() == 0 {
                    return Err(self.at(&f.count, "`count` must be at least 1".into()));
                }
                let reply = self.reply_or(
                    f.reply.as_ref(),
                    "451 4.3.0 Temporary failure, try again later",
                )?;
                if reply.code < 400 {
                    let anchor = f.reply.as_ref().unwrap_or(&f.command);
                    return Err(self.at(anchor, "`reply` must be a 4xx or 5xx failure".into()));
                }
                Some(FailFirst {
                    command,
                    count: *f.count.get_ref(),
                    reply,
                })
            }
        };
        Ok(Submission {
            user: raw.user.get_ref().clone(),
            password: raw.password.get_ref().clone(),
            fail_first,
        })
    }

    fn mailbox_set(&self, list: &[S]) -> R<MailboxSet> {
        let mut set = MailboxSet::default();
        for s in list {
            set.insert(&self.mailbox(s)?);
        }
        Ok(set)
    }

    fn mailbox(&self, s: &S) -> R<String> {
        let v = s.get_ref().trim();
        let ok = !v.is_empty()
            && v.len() <= 254
            && v.matches('@').count() <= 1
            && !v.starts_with('@')
            && !v.ends_with('@')
            && v.chars()
                .all(|c| c.is_ascii_graphic() && !"<>\"\\,;:()[]".contains(c));
        if !ok {
            return Err(self.at(
                s,
                format!("{v:?} is not a mailbox (\"local\" or \"local@domain\")"),
            ));
        }
        Ok(v.to_ascii_lowercase())
    }

    fn reply(&self, s: &S) -> R<Reply> {
        Reply::parse(s.get_ref()).map_err(|m| self.at(s, m))
    }

    fn reply_or(&self, s: Option<&S>, default: &str) -> R<Reply> {
        match s {
            Some(s) => self.reply(s),
            None => Reply::parse(default).map_err(|m| self.error(0..0, m)),
        }
    }

    fn duration(&self, s: &S) -> R<Duration> {
        let d = mxray_core::duration::parse(s.get_ref()).map_err(|e| self.at(s, e.to_string()))?;
        if d > MAX_DELAY {
            return Err(self.at(s, "durations longer than 1h are not allowed".into()));
        }
        Ok(d)
    }

    /// An address published in an A/AAAA record: loopback, or with `private_records` any
    /// non-public special range (RFC 1918, link-local, CGNAT, ULA...), never a public address.
    fn record_address(&self, s: &S) -> R<IpAddr> {
        if !self.private_records.get() {
            return self.address(s);
        }
        let v = s.get_ref().trim();
        let ip: IpAddr = v
            .parse()
            .map_err(|_| self.at(s, format!("{v:?} is not an IP address")))?;
        if mxray_core::address::special_range(ip).is_none() {
            return Err(self.at(
                s,
                format!("address {ip} is public: even with private_records the lab publishes only loopback and non-public ranges"),
            ));
        }
        Ok(ip)
    }

    fn address(&self, s: &S) -> R<IpAddr> {
        let v = s.get_ref().trim();
        let ip: IpAddr = v
            .parse()
            .map_err(|_| self.at(s, format!("{v:?} is not an IP address")))?;
        let loopback = match ip {
            IpAddr::V4(a) => a.octets()[0] == 127,
            IpAddr::V6(a) => a.is_loopback(),
        };
        if !loopback {
            return Err(self.at(
                s,
                format!(
                    "address {ip} is not a loopback address (the lab only uses 127.0.0.0/8 and ::1)"
                ),
            ));
        }
        Ok(ip)
    }

    /// A name the lab answers for: must be one RFC 2606 reserves, so no lab shadows a real
    /// domain.
    fn owner_name(&self, s: &S) -> R<String> {
        let name = s
            .get_ref()
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        check_name(&name).map_err(|m| self.at(s, m))?;
        if !reserved_name(&name) {
            return Err(self.at(
                s,
                format!(
                    "name {name:?} is not under .test (lab names must be reserved by RFC 2606: \
                     .test, .example, example.com, example.net, example.org)"
                ),
            ));
        }
        Ok(name)
    }

    /// A name that is only pointed at (CNAME, PTR targets): any valid name.
    fn target_name(&self, s: &S) -> R<String> {
        let name = s
            .get_ref()
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        check_name(&name).map_err(|m| self.at(s, m))?;
        Ok(name)
    }

    /// An MTA-STS `mx:` pattern: a name, possibly starting with `*.`.
    fn pattern_name(&self, s: &S) -> R<String> {
        let v = s.get_ref().trim().to_ascii_lowercase();
        let rest = v.strip_prefix("*.").unwrap_or(&v);
        check_name(rest).map_err(|m| self.at(s, m))?;
        Ok(v)
    }
}

/// DNS name syntax: 1-63 byte labels of letters, digits, `-` and `_`, at most 253 bytes.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err(format!("{name:?} is not a valid DNS name (length)"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "{name:?} is not a valid DNS name (empty or long label)"
            ));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "{:?} is not a valid DNS name (letters, digits, '-' and '_' only)",
                name
            ));
        }
    }
    Ok(())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Names RFC 2606 reserves for testing and documentation: the `.test` and `.example` TLDs and
/// `example.com`, `example.net`, `example.org` (what documentation examples use).
fn reserved_name(name: &str) -> bool {
    let under = |apex: &str| name == apex || name.ends_with(&format!(".{apex}"));
    [
        "test",
        "example",
        "example.com",
        "example.net",
        "example.org",
    ]
    .iter()
    .any(|apex| under(apex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn names() {
        assert!(check_name("mx1.example.test").is_ok());
        assert!(check_name("_dmarc.example.test").is_ok());
        assert!(check_name("a..b").is_err());
        assert!(check_name("a b").is_err());
    }

    #[test]
    fn only_rfc2606_names_are_served() {
        for ok in [
            "test",
            "ok.test",
            "mx.example.com",
            "example.org",
            "a.example",
        ] {
            assert!(reserved_name(ok), "{ok}");
        }
        for bad in [
            "gmail.com",
            "notexample.com",
            "example.co",
            "testing",
            "example.com.evil",
        ] {
            assert!(!reserved_name(bad), "{bad}");
        }
    }
}
