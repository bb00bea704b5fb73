//! Policy evaluation: permissions → [`Grants`] once per token, then one bit test per Check.

use super::Policy;
use crate::catalog::{Rpc, RpcSet};

/// What a token's permissions grant under one policy. Small and `Copy`-cheap: it lives in
/// every cached principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Rpcs granted without conditions.
    pub rpcs: RpcSet,
}

/// Why a policy refuses an rpc to a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcDeny {
    /// No grant of the token covers the rpc; carries the permissions that would.
    MissingPermission {
        /// The rpc.
        rpc: Rpc,
        /// Display list of permissions that grant it.
        granting: Box<str>,
    },
}

impl Policy {
    /// The grants of a token holding `permissions`.
    pub fn grants_for<'a>(&self, permissions: impl IntoIterator<Item = &'a str>) -> Grants {
        let mut rpcs = RpcSet::EMPTY;
        for p in permissions {
            if let Some(idx) = self.by_permission.get(p) {
                for &i in idx.iter() {
                    rpcs = rpcs.union(self.grants[usize::from(i)].rpcs);
                }
            }
            if self.rpc_named_permissions
                && let Some(rpc) = Rpc::from_name(p)
            {
                rpcs = rpcs.with(rpc);
            }
        }
        Grants { rpcs }
    }

    /// Whether `grants` allow `rpc`.
    pub fn decide(&self, grants: &Grants, rpc: Rpc) -> Result<(), RpcDeny> {
        if grants.rpcs.contains(rpc) {
            return Ok(());
        }
        Err(RpcDeny::MissingPermission {
            rpc,
            granting: self.granting_permissions(rpc).into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::diag::Diagnostics;
    use crate::policy::compile;

    use super::*;

    fn policy(text: &str) -> Policy {
        let mut d = Diagnostics::default();
        let file: Arc<Path> = Arc::from(Path::new("p.yaml"));
        compile(&file, text, &mut d).unwrap_or_else(|| panic!("{:?}", d.items()))
    }

    #[test]
    fn presets_and_rpc_named_permissions() {
        let p = policy(
            "rpc_named_permissions: true\ngrants:\n  - {permission: 'write:*', rpcs: ['*']}\n  - {permission: 'read:*', rpcs: [Topology]}\n",
        );
        let topo = Rpc::from_name("Topology").unwrap();
        let cpi = Rpc::from_name("CreateProcessInstance").unwrap();
        let read = p.grants_for(["read:*"]);
        assert!(p.decide(&read, topo).is_ok());
        let Err(RpcDeny::MissingPermission { rpc, granting }) = p.decide(&read, cpi) else {
            panic!()
        };
        assert_eq!((rpc, &*granting), (cpi, "write:*, CreateProcessInstance"));
        assert!(p.decide(&p.grants_for(["write:*"]), cpi).is_ok());
        let poc = p.grants_for(["DeployProcess", "CreateProcessInstance", "Topology"]);
        assert!(p.decide(&poc, cpi).is_ok() && p.decide(&poc, topo).is_ok());
        assert!(
            p.decide(&poc, Rpc::from_name("CompleteJob").unwrap())
                .is_err()
        );
        assert!(p.decide(&p.grants_for([]), topo).is_err());
        assert!(
            p.decide(&p.grants_for(["WRITE:*", "topology"]), topo)
                .is_err(),
            "permissions are case-sensitive"
        );
    }

    #[test]
    fn rpc_named_permissions_are_off_unless_enabled() {
        let p = policy("grants:\n  - {permission: 'read:*', rpcs: [Topology]}\n");
        assert!(
            p.decide(
                &p.grants_for(["CreateProcessInstance"]),
                Rpc::from_name("CreateProcessInstance").unwrap()
            )
            .is_err()
        );
    }
}
