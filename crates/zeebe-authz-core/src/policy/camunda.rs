//! Camunda 8.8's authorization vocabulary, and what each gateway rpc needs in it. Pure data.
//!
//! Since 8.8 the Orchestration Cluster authorizes commands inside the engine: an authorization
//! is an owner, a resource type, resource ids and permission types. This module holds the enum
//! names (the exact spelling of Camunda's, plus `x-` extensions of ours that have no Camunda
//! twin) and [`RPC_TABLE`]: for every gateway rpc, the resource type and permission the engine
//! checks in 8.8 and 8.9, and which request field (if any) carries the resource id at the edge.
//! The policy's Camunda dialect compiles through this table into ordinary grants, `lint`
//! prints it and compares policies against it, and the deny messages quote it.
//!
//! Sources are cited per row (keys of `docs/camunda-authorizations.md` §6). Status: `V`
//! verified against docs and engine code, `V-src` engine code only (an unpinned commit), `U`
//! not verified.

use std::fmt;

use super::condition::ConditionKind;
use crate::catalog::{Rpc, RpcSet};

/// A Camunda version whose authorization model the table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CamundaVersion {
    /// 8.7 and earlier: the gateway only authenticates; Identity's `permissions.zeebe-api`
    /// claim carries presets (`write:*`, `read:*`).
    V8_7,
    /// 8.8: authorizations in the engine.
    V8_8,
    /// 8.9: 8.8 plus message-name authorization and `EvaluateConditional`.
    V8_9,
}

impl CamundaVersion {
    /// Every version, oldest first.
    pub const ALL: [CamundaVersion; 3] = [
        CamundaVersion::V8_7,
        CamundaVersion::V8_8,
        CamundaVersion::V8_9,
    ];

    /// `8.8` for `8.8`, `8.8.3` or `v8.8`.
    pub fn parse(s: &str) -> Option<CamundaVersion> {
        let s = s.trim().trim_start_matches('v');
        let mut parts = s.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        let number = |p: &str| p == "0" || (!p.starts_with('0') && p.parse::<u32>().is_ok());
        if major != "8" || !number(minor) || !parts.all(number) {
            return None;
        }
        // 8.10 changes the deny message and adds job-type authorization: not described here.
        match minor.parse::<u32>().ok()? {
            0..=7 => Some(CamundaVersion::V8_7),
            8 => Some(CamundaVersion::V8_8),
            9 => Some(CamundaVersion::V8_9),
            _ => None,
        }
    }
}

impl fmt::Display for CamundaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CamundaVersion::V8_7 => "8.7",
            CamundaVersion::V8_8 => "8.8",
            CamundaVersion::V8_9 => "8.9",
        })
    }
}

macro_rules! names {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name as Camunda (or, with `x-`, this project) spells it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Looks a name up, exactly as spelled.
            pub fn from_name(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// Whether this is an extension of ours (no Camunda twin).
            pub fn is_extension(self) -> bool {
                self.as_str().starts_with("x-")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names! {
    /// A resource type: Camunda 8.8/8.9's, plus the `x-` extensions.
    pub enum ResourceType {
        /// Authorizations themselves.
        Authorization = "AUTHORIZATION",
        /// Batch operations.
        Batch = "BATCH",
        /// Web components (Operate, Tasklist, Identity/Admin).
        Component = "COMPONENT",
        /// DMN decisions, by decision id.
        DecisionDefinition = "DECISION_DEFINITION",
        /// DRDs.
        DecisionRequirementsDefinition = "DECISION_REQUIREMENTS_DEFINITION",
        /// Documents.
        Document = "DOCUMENT",
        /// Groups.
        Group = "GROUP",
        /// Mapping rules.
        MappingRule = "MAPPING_RULE",
        /// Messages, by message name.
        Message = "MESSAGE",
        /// BPMN processes, by BPMN process id.
        ProcessDefinition = "PROCESS_DEFINITION",
        /// Deployed resources (deployments, forms, DRDs, processes).
        Resource = "RESOURCE",
        /// Roles.
        Role = "ROLE",
        /// The cluster itself.
        System = "SYSTEM",
        /// Tenants.
        Tenant = "TENANT",
        /// Users.
        User = "USER",
        /// 8.9: audit log.
        AuditLog = "AUDIT_LOG",
        /// 8.9: cluster variables.
        ClusterVariable = "CLUSTER_VARIABLE",
        /// 8.9: expression evaluation.
        Expression = "EXPRESSION",
        /// 8.9: global task listeners.
        GlobalListener = "GLOBAL_LISTENER",
        /// 8.9: user tasks.
        UserTask = "USER_TASK",
        /// Extension: jobs by job type (ActivateJobs, StreamActivatedJobs `type`).
        XJobType = "x-JOB_TYPE",
        /// Extension: a gateway rpc by name, for rpcs Camunda puts under no permission
        /// (Topology) or to name one rpc exactly.
        XRpc = "x-RPC",
    }
}

names! {
    /// A permission type: Camunda 8.8/8.9's, plus the `x-` extensions.
    pub enum Permission {
        /// Access a web component.
        Access = "ACCESS",
        /// Cancel a process instance.
        CancelProcessInstance = "CANCEL_PROCESS_INSTANCE",
        /// Claim a user task (8.9).
        Claim = "CLAIM",
        /// Claim a user task of a process (8.9).
        ClaimUserTask = "CLAIM_USER_TASK",
        /// Complete a user task (8.9).
        Complete = "COMPLETE",
        /// Complete a user task of a process (8.9).
        CompleteUserTask = "COMPLETE_USER_TASK",
        /// Create.
        Create = "CREATE",
        /// Create batch operations of a kind.
        CreateBatchOperationCancelProcessInstance = "CREATE_BATCH_OPERATION_CANCEL_PROCESS_INSTANCE",
        /// Create batch operations of a kind.
        CreateBatchOperationDeleteDecisionDefinition = "CREATE_BATCH_OPERATION_DELETE_DECISION_DEFINITION",
        /// Create batch operations of a kind.
        CreateBatchOperationDeleteDecisionInstance = "CREATE_BATCH_OPERATION_DELETE_DECISION_INSTANCE",
        /// Create batch operations of a kind.
        CreateBatchOperationDeleteProcessDefinition = "CREATE_BATCH_OPERATION_DELETE_PROCESS_DEFINITION",
        /// Create batch operations of a kind.
        CreateBatchOperationDeleteProcessInstance = "CREATE_BATCH_OPERATION_DELETE_PROCESS_INSTANCE",
        /// Create batch operations of a kind.
        CreateBatchOperationMigrateProcessInstance = "CREATE_BATCH_OPERATION_MIGRATE_PROCESS_INSTANCE",
        /// Create batch operations of a kind.
        CreateBatchOperationModifyProcessInstance = "CREATE_BATCH_OPERATION_MODIFY_PROCESS_INSTANCE",
        /// Create batch operations of a kind.
        CreateBatchOperationResolveIncident = "CREATE_BATCH_OPERATION_RESOLVE_INCIDENT",
        /// Evaluate a decision.
        CreateDecisionInstance = "CREATE_DECISION_INSTANCE",
        /// Start a process instance.
        CreateProcessInstance = "CREATE_PROCESS_INSTANCE",
        /// 8.9 global listeners.
        CreateTaskListener = "CREATE_TASK_LISTENER",
        /// Delete.
        Delete = "DELETE",
        /// Delete decision instances.
        DeleteDecisionInstance = "DELETE_DECISION_INSTANCE",
        /// Delete a DRD resource.
        DeleteDrd = "DELETE_DRD",
        /// Delete a form resource.
        DeleteForm = "DELETE_FORM",
        /// Delete a process resource.
        DeleteProcess = "DELETE_PROCESS",
        /// Delete process instances.
        DeleteProcessInstance = "DELETE_PROCESS_INSTANCE",
        /// Delete another resource.
        DeleteResource = "DELETE_RESOURCE",
        /// 8.9 global listeners.
        DeleteTaskListener = "DELETE_TASK_LISTENER",
        /// 8.9 expressions.
        Evaluate = "EVALUATE",
        /// Modify a process instance.
        ModifyProcessInstance = "MODIFY_PROCESS_INSTANCE",
        /// Read.
        Read = "READ",
        /// Read decision definitions.
        ReadDecisionDefinition = "READ_DECISION_DEFINITION",
        /// Read decision instances.
        ReadDecisionInstance = "READ_DECISION_INSTANCE",
        /// 8.9 system.
        ReadJobMetric = "READ_JOB_METRIC",
        /// Read process definitions.
        ReadProcessDefinition = "READ_PROCESS_DEFINITION",
        /// Read process instances.
        ReadProcessInstance = "READ_PROCESS_INSTANCE",
        /// 8.9 global listeners.
        ReadTaskListener = "READ_TASK_LISTENER",
        /// System usage metrics.
        ReadUsageMetric = "READ_USAGE_METRIC",
        /// Read user tasks of a process.
        ReadUserTask = "READ_USER_TASK",
        /// Update.
        Update = "UPDATE",
        /// Update process instances: jobs, variables, incidents, migration.
        UpdateProcessInstance = "UPDATE_PROCESS_INSTANCE",
        /// 8.9 global listeners.
        UpdateTaskListener = "UPDATE_TASK_LISTENER",
        /// Update user tasks of a process.
        UpdateUserTask = "UPDATE_USER_TASK",
        /// Extension: activate (and stream) jobs of a job type.
        XActivate = "x-ACTIVATE",
        /// Extension: call a gateway rpc.
        XCall = "x-CALL",
    }
}

/// An owner type of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OwnerType {
    /// A user, by the token's username claim.
    User,
    /// A client (application), by the token's client id claim.
    Client,
    /// A group, by the token's groups claim.
    Group,
    /// A role, by the token's roles claim (an extension: Camunda keeps roles in the engine).
    Role,
    /// A mapping rule of the policy that the token's claims match.
    MappingRule,
}

impl OwnerType {
    /// Every owner type.
    pub const ALL: [OwnerType; 5] = [
        OwnerType::User,
        OwnerType::Client,
        OwnerType::Group,
        OwnerType::Role,
        OwnerType::MappingRule,
    ];

    /// The key in the policy's `owner:` (`user`, `mapping_rule`, …).
    pub fn key(self) -> &'static str {
        match self {
            OwnerType::User => "user",
            OwnerType::Client => "client",
            OwnerType::Group => "group",
            OwnerType::Role => "role",
            OwnerType::MappingRule => "mapping_rule",
        }
    }

    /// Camunda's `ownerType` value.
    pub fn camunda_name(self) -> &'static str {
        match self {
            OwnerType::User => "USER",
            OwnerType::Client => "CLIENT",
            OwnerType::Group => "GROUP",
            OwnerType::Role => "ROLE",
            OwnerType::MappingRule => "MAPPING_RULE",
        }
    }
}

/// The permissions Camunda accepts on a resource type, in `version` (from D88/D89, the
/// "Available resources" tables). Extensions accept their own.
pub fn permissions_of(resource: ResourceType, version: CamundaVersion) -> &'static [Permission] {
    use Permission as P;
    use ResourceType as R;
    let v89 = version >= CamundaVersion::V8_9;
    match resource {
        R::Authorization | R::Group | R::MappingRule | R::Role | R::Tenant | R::User => {
            &[P::Create, P::Delete, P::Read, P::Update]
        }
        R::Batch => &[
            P::Create,
            P::CreateBatchOperationCancelProcessInstance,
            P::CreateBatchOperationDeleteDecisionDefinition,
            P::CreateBatchOperationDeleteDecisionInstance,
            P::CreateBatchOperationDeleteProcessDefinition,
            P::CreateBatchOperationDeleteProcessInstance,
            P::CreateBatchOperationMigrateProcessInstance,
            P::CreateBatchOperationModifyProcessInstance,
            P::CreateBatchOperationResolveIncident,
            P::Read,
            P::Update,
        ],
        R::Component => &[P::Access],
        R::DecisionDefinition => &[
            P::CreateDecisionInstance,
            P::DeleteDecisionInstance,
            P::ReadDecisionDefinition,
            P::ReadDecisionInstance,
        ],
        R::DecisionRequirementsDefinition => &[P::Read],
        R::Document => &[P::Create, P::Read, P::Delete],
        R::Message => &[P::Create, P::Read],
        R::ProcessDefinition if v89 => &[
            P::CancelProcessInstance,
            P::ClaimUserTask,
            P::CompleteUserTask,
            P::CreateProcessInstance,
            P::DeleteProcessInstance,
            P::ModifyProcessInstance,
            P::ReadProcessDefinition,
            P::ReadProcessInstance,
            P::ReadUserTask,
            P::UpdateProcessInstance,
            P::UpdateUserTask,
        ],
        R::ProcessDefinition => &[
            P::CancelProcessInstance,
            P::CreateProcessInstance,
            P::DeleteProcessInstance,
            P::ModifyProcessInstance,
            P::ReadProcessDefinition,
            P::ReadProcessInstance,
            P::ReadUserTask,
            P::UpdateProcessInstance,
            P::UpdateUserTask,
        ],
        R::Resource => &[
            P::Create,
            P::Read,
            P::DeleteDrd,
            P::DeleteForm,
            P::DeleteProcess,
            P::DeleteResource,
        ],
        R::System if v89 => &[P::Read, P::ReadUsageMetric, P::ReadJobMetric, P::Update],
        R::System => &[P::Read, P::ReadUsageMetric, P::Update],
        R::AuditLog if v89 => &[P::Read],
        R::ClusterVariable if v89 => &[P::Create, P::Update, P::Delete, P::Read],
        R::Expression if v89 => &[P::Evaluate],
        R::GlobalListener if v89 => &[
            P::CreateTaskListener,
            P::DeleteTaskListener,
            P::ReadTaskListener,
            P::UpdateTaskListener,
        ],
        R::UserTask if v89 => &[P::Read, P::Update, P::Claim, P::Complete],
        R::AuditLog | R::ClusterVariable | R::Expression | R::GlobalListener | R::UserTask => &[],
        R::XJobType => &[P::XActivate],
        R::XRpc => &[P::XCall],
    }
}

/// Which request field holds a resource type's id, where a request carries it.
pub fn id_kind(resource: ResourceType) -> Option<ConditionKind> {
    match resource {
        ResourceType::ProcessDefinition => Some(ConditionKind::BpmnProcessId),
        ResourceType::DecisionDefinition => Some(ConditionKind::DecisionId),
        ResourceType::Message => Some(ConditionKind::MessageName),
        ResourceType::XJobType => Some(ConditionKind::JobType),
        _ => None,
    }
}

/// Where the edge finds the resource id of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceId {
    /// In a request field (the resource type's [`id_kind`]): ids are compared with it.
    Field,
    /// The engine resolves a key (job, instance, incident, resource) to the resource, or
    /// filters a search by it; the edge cannot, so any authorization of the type and
    /// permission grants the operation there (where the engine checks).
    Resolved,
    /// A REST path variable is the id the engine checks (`/users/{username}`). The edge does
    /// not compare it: it grants as for [`ResourceId::Resolved`] and names the id in the
    /// engine-worded deny.
    Path(&'static str),
    /// The engine checks no id: only an authorization on `*` passes.
    WildcardOnly,
}

/// What the engine of one version does for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Checks the same id the edge compares.
    Checks,
    /// Checks the id it resolves from a key.
    Resolves,
    /// Checks `*` only (no resource id).
    WildcardOnly,
    /// Does not refuse: silently leaves out the jobs of processes the owner lacks.
    Filters,
    /// No such check (an extension, or the rpc is absent in this version).
    Absent,
}

/// One row of the rpc → permission table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// The gateway rpc.
    pub rpc: &'static str,
    /// The resource type.
    pub resource: ResourceType,
    /// The permission.
    pub permission: Permission,
    /// Where the edge finds the resource id.
    pub id: ResourceId,
    /// The engine in 8.8.
    pub v8_8: Engine,
    /// The engine in 8.9.
    pub v8_9: Engine,
    /// `V`, `V-src` or `U`, with what is not verified.
    pub status: &'static str,
    /// Citation keys of `docs/camunda-authorizations.md` §6.
    pub cite: &'static str,
}

impl Row {
    /// The engine of `version` (8.7 has none).
    pub fn engine(&self, version: CamundaVersion) -> Engine {
        match version {
            CamundaVersion::V8_7 => Engine::Absent,
            CamundaVersion::V8_8 => self.v8_8,
            CamundaVersion::V8_9 => self.v8_9,
        }
    }

    /// The row's rpc in the catalog.
    pub fn rpc(&self) -> Rpc {
        Rpc::from_name(self.rpc).expect("table rows name catalog rpcs")
    }

    /// Whether the engine checks the row (in some version) but the edge grants it on any id
    /// (the engine decides which).
    pub fn engine_decides_id(&self) -> bool {
        matches!(self.id, ResourceId::Resolved | ResourceId::Path(_))
    }
}

/// A row of the table (written positionally there, one line per field).
const fn row(
    rpc: &'static str,
    resource: ResourceType,
    permission: Permission,
    id: ResourceId,
    (v8_8, v8_9): (Engine, Engine),
    status: &'static str,
    cite: &'static str,
) -> Row {
    Row {
        rpc,
        resource,
        permission,
        id,
        v8_8,
        v8_9,
        status,
        cite,
    }
}

use Engine::{Absent, Checks, Filters, Resolves, WildcardOnly as EngineStar};
use Permission as P;
use ResourceId::Field;
use ResourceType as R;

mod rest;
mod table;

pub use rest::{REST_NO_PERMISSION, REST_TABLE, REST_UNVERIFIED};
pub use table::RPC_TABLE;

/// Every row of both tables whose operation the catalog has: [`RPC_TABLE`], then
/// [`REST_TABLE`] (a REST row naming an operation the catalog lacks is left out here; a test
/// names it).
pub fn all_rows() -> impl Iterator<Item = &'static Row> {
    RPC_TABLE.iter().chain(
        REST_TABLE
            .iter()
            .filter(|r| Rpc::from_name(r.rpc).is_some()),
    )
}

/// The row that stands for `rpc` in deny messages: its first Camunda row, or `x-RPC`/`x-CALL`
/// on the rpc's name for Topology.
pub fn message_row(rpc: Rpc) -> Row {
    rows_of(rpc)
        .find(|r| !r.resource.is_extension())
        .copied()
        .unwrap_or(Row {
            rpc: rpc.name(),
            resource: R::XRpc,
            permission: P::XCall,
            id: Field,
            v8_8: Absent,
            v8_9: Absent,
            status: "extension",
            cite: "-",
        })
}

/// The row of `rpc` that an authorization of `resource` with one of `permissions` grants it by.
pub fn row_for(rpc: Rpc, resource: ResourceType, permissions: &[Permission]) -> Row {
    rows_of(rpc)
        .find(|r| r.resource == resource && permissions.contains(&r.permission))
        .copied()
        .unwrap_or_else(|| message_row(rpc))
}

/// The rows of `rpc` (a gRPC rpc or a REST-only operation).
pub fn rows_of(rpc: Rpc) -> impl Iterator<Item = &'static Row> {
    all_rows().filter(move |r| r.rpc == rpc.name())
}

/// The rpcs an authorization of `resource` with `permission` grants at the edge, split into
/// those it grants only when its ids include `*` and the rest.
pub fn rpcs_granted(resource: ResourceType, permission: Permission) -> (RpcSet, RpcSet) {
    let mut any_id = RpcSet::EMPTY;
    let mut star_only = RpcSet::EMPTY;
    for row in all_rows().filter(|r| r.resource == resource && r.permission == permission) {
        match row.id {
            ResourceId::WildcardOnly => star_only = star_only.with(row.rpc()),
            ResourceId::Field | ResourceId::Resolved | ResourceId::Path(_) => {
                any_id = any_id.with(row.rpc())
            }
        }
    }
    (any_id, star_only)
}

/// Of the rpcs `rpcs_granted` grants on any id, those whose resource the edge does not
/// compare (`ResourceId::Resolved`: sent by key, a search the engine filters, or decided per
/// subscription like BroadcastSignal; `ResourceId::Path`: named in the REST path): an id list
/// means something for them only where the engine checks it.
pub fn rpcs_resolved(resource: ResourceType, permission: Permission) -> RpcSet {
    all_rows()
        .filter(|r| r.resource == resource && r.permission == permission && r.engine_decides_id())
        .fold(RpcSet::EMPTY, |s, r| s.with(r.rpc()))
}

/// The rpcs x-JOB_TYPE/x-ACTIVATE grants (ActivateJobs, StreamActivatedJobs).
pub fn job_type_rpcs() -> RpcSet {
    rpcs_granted(ResourceType::XJobType, Permission::XActivate).0
}

/// The engine's deny message for `row` (8.8/8.9 wording, `AuthorizationCheckBehavior`):
/// with the request's resource id, the sorted list of the ids that would have passed, which
/// always holds `*`. An empty id is none: a request sent by key only (`processDefinitionKey`,
/// `decisionKey`) names no id at the edge, where the engine would name the one it resolves.
/// The id is a request field's ([`ResourceId::Field`]) or a REST path variable's
/// ([`ResourceId::Path`]).
pub fn engine_message(row: &Row, id: Option<&str>) -> String {
    let base = format!(
        "Insufficient permissions to perform operation '{}' on resource '{}'",
        row.permission, row.resource
    );
    if !matches!(row.id, ResourceId::Field | ResourceId::Path(_)) {
        return base;
    }
    match id.filter(|id| !id.is_empty()) {
        Some(id) => {
            let mut ids = ["*", id];
            ids.sort_unstable();
            format!(
                "{base}, required resource identifiers are one of '[{}]'",
                ids.join(", ")
            )
        }
        None => base,
    }
}

/// The engine's message when the owner is not assigned to the request's tenant.
pub fn engine_tenant_message(row: &Row, tenant: &str) -> String {
    format!(
        "Expected to perform operation '{}' on resource '{}' for tenant '{tenant}', but user is not assigned to this tenant",
        row.permission, row.resource
    )
}

/// The Identity 8.7 presets (in `permissions.zeebe-api`) that grant `rpc` under the default
/// policy (`policies/default.yaml`; ZEEBE.md §3).
fn preset_8_7(rpc: Rpc) -> &'static str {
    if rpc.name() == "Topology" {
        "`write:*`, `read:*`"
    } else {
        "`write:*`"
    }
}

/// How the rendered tables name what an engine does.
fn engine_word(e: Engine) -> &'static str {
    match e {
        Checks => "checks",
        Resolves => "resolves",
        EngineStar => "`*` only",
        Filters => "filters",
        Absent => "–",
    }
}

/// The rpc → permission table as Markdown (`docs/camunda-rpc-permissions.md` is this text).
pub fn render_table() -> String {
    let mut out = String::from(
        "<!-- Generated by `zeebe-authz lint --camunda-table` from crates/zeebe-authz-core/src/policy/camunda/table.rs; a test keeps it equal. -->\n\
         # Gateway rpc → Camunda permission\n\n\
         What each Zeebe gateway rpc needs in Camunda 8.8 and 8.9, and what zeebe-authz's Camunda \
         dialect compares at the edge. Citations are the keys of `camunda-authorizations.md` §6; \
         status `V` verified against docs and engine code, `V-src` engine code only, `U` not verified.\n\n\
         Resource id at the edge: **field** = compared with the request field; **resolved** = the \
         engine resolves a key to the process or resource, so the edge can only check that the \
         owner holds the permission on some resource; **`*` only** = only an authorization on `*` passes.\n\n\
         Engine: **checks** the same id; **resolves** the id from a key; **`*` only**; **filters** \
         (refuses nothing, leaves out jobs of processes the owner lacks); **–** no such check.\n\n\
         In 8.7 and earlier the engine checks nothing: Identity's `permissions.zeebe-api` claim \
         carries the presets `write:*` (every rpc in zeebe-authz's default policy) and `read:*` \
         (Topology), and zeebe-authz's grants decide.\n\n\
         | rpc | 8.7 preset | request field | resource type | permission | resource id at the edge | engine 8.8 | engine 8.9 | status | citation |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for rpc in Rpc::all() {
        let mut any = false;
        for r in rows_of(rpc) {
            any = true;
            let field = match (r.id, id_kind(r.resource)) {
                (ResourceId::Field, Some(kind)) => super::condition::field_name(rpc, kind)
                    .map_or_else(|| "–".to_string(), |f| format!("`{f}`")),
                _ => "–".to_string(),
            };
            let id = match r.id {
                ResourceId::Field => "field",
                ResourceId::Resolved => "resolved",
                // No gRPC row has a path.
                ResourceId::Path(_) | ResourceId::WildcardOnly => "`*` only",
            };
            out.push_str(&format!(
                "| {} | {} | {field} | {} | {} | {id} | {} | {} | {} | {} |\n",
                r.rpc,
                preset_8_7(rpc),
                r.resource,
                r.permission,
                engine_word(r.v8_8),
                engine_word(r.v8_9),
                r.status,
                r.cite
            ));
        }
        if !any {
            out.push_str(&format!(
                "| {rpc} | {} | – | – | none | – | – | – | U (the gateway answers it without a broker command) | – |\n",
                preset_8_7(rpc)
            ));
        }
    }
    out.push_str("| any rpc | – | – | x-RPC | x-CALL | the rpc name | – | – | extension | – |\n");
    out.push_str(&rest::render());
    out
}

#[cfg(test)]
mod rest_tests;
#[cfg(test)]
mod tests;
