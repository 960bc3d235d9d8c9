//! What `tasktoken mint` grants a token and `tasktoken delegate` a link: one set of options,
//! so that the two commands read `--sub`, `--aud`, `--task`, `--scope`, `--res`, `--ttl`,
//! `--cnf-jkt` and `--dlg` alike.

use clap::Args;
use tasktoken::{LinkRequest, MintRequest};

use crate::duration::parse_duration;

/// The grant of a token or a delegation link (DESIGN.md's claims of the same names).
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The non-human identity it is granted to (`sub`), e.g. agent:lookup-bot.
    #[arg(long, value_name = "SUBJECT")]
    sub: String,

    /// Service that may accept it (`aud`); repeat for several. A link's are each one of the
    /// previous element's.
    #[arg(long, value_name = "SERVICE", required = true)]
    aud: Vec<String>,

    /// The workflow segment it serves (`task`), e.g. deploy-8812/stage:deploy; a link's is
    /// the previous element's or a sub-task of it (`task/...`).
    #[arg(long, value_name = "TASK")]
    task: String,

    /// Granted actions, separated by single spaces (`scope`), e.g. "artifacts:read"; a
    /// link's are each one of the previous element's.
    #[arg(long, value_name = "ACTIONS")]
    scope: String,

    /// Resource pattern the actions may touch (`res`); repeat for several. A last segment
    /// of `*` covers everything below the prefix, e.g. artifacts/web/*; a link's lie inside
    /// the previous element's.
    #[arg(long, value_name = "PATTERN", required = true)]
    res: Vec<String>,

    /// Lifetime (`exp - iat`), e.g. 60s, 5m; a link never outlives the previous element.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    ttl: u32,

    /// Bind it to a key (`cnf.jkt`): the RFC 7638 thumbprint of the holder's key (`jkt` from
    /// `tasktoken proof --generate`).
    #[arg(long, value_name = "THUMBPRINT")]
    cnf_jkt: Option<String>,

    /// Delegation depth (`dlg`): how many links (`tasktoken delegate`) the holder may add,
    /// lower than the previous element's for a link; needs --cnf-jkt [default: 0].
    #[arg(long, value_name = "N", default_value_t = 0)]
    dlg: u32,
}

impl GrantArgs {
    /// The grant as a mint request (`nbf` and extra claims are `mint`'s own options).
    pub fn mint_request(&self) -> MintRequest {
        let mut request = MintRequest::new(&self.sub, &self.task)
            .with_aud(&self.aud)
            .with_scope(&self.scope)
            .with_res(&self.res)
            .with_ttl(self.ttl)
            .with_dlg(self.dlg);
        request.cnf_jkt = self.cnf_jkt.clone();
        request
    }

    /// The grant as a delegation link.
    pub fn link_request(&self) -> LinkRequest {
        let mut link = LinkRequest::new(&self.sub, &self.task)
            .with_aud(&self.aud)
            .with_scope(&self.scope)
            .with_res(&self.res)
            .with_ttl(self.ttl)
            .with_dlg(self.dlg);
        link.cnf_jkt = self.cnf_jkt.clone();
        link
    }
}
