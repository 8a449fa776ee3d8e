//! One module per verb: each takes its parsed arguments, calls the library, and prints.

pub mod demo;
pub mod diagnose;
pub mod explain;
pub mod lab;
pub mod logs;
pub mod verify;

/// This machine's name, the default EHLO name of the probing verbs.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The run's resolver, checked to answer at all: set-up failures and a silent resolver are
/// environment errors (exit 3), never findings about a domain.
pub async fn live_dns(global: &crate::cli::GlobalArgs) -> anyhow::Result<mxray_net::Dns> {
    let dns = new_dns(global)?;
    if !dns.alive().await {
        return Err(dead_resolver(global));
    }
    Ok(dns)
}

/// The run's resolver, not yet checked (for callers that check it beside other work).
pub fn new_dns(global: &crate::cli::GlobalArgs) -> anyhow::Result<mxray_net::Dns> {
    mxray_net::Dns::new(&global.resolvers, global.timeout).map_err(|e| {
        crate::Exit {
            code: crate::exit::ENVIRONMENT,
            message: e.to_string(),
        }
        .into()
    })
}

/// The error for a resolver that answers nothing, naming which one.
pub fn dead_resolver(global: &crate::cli::GlobalArgs) -> anyhow::Error {
    let which = if global.resolvers.is_empty() {
        "system resolvers".to_string()
    } else {
        global
            .resolvers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    crate::Exit {
        code: crate::exit::ENVIRONMENT,
        message: format!(
            "no DNS resolver answers ({which}): check the network or pass --resolver IP:PORT"
        ),
    }
    .into()
}
