//! [`REST_TABLE`]: what every REST-only operation of the Orchestration Cluster API (`/v2`)
//! needs in Camunda's authorization model, one row per (operation, resource type, permission),
//! as [`super::RPC_TABLE`] does for the gRPC rpcs (whose REST twins are the same operations).
//!
//! Keyed by the operation names of `proto/rest-operations.txt`. Sources (keys of
//! `docs/camunda-authorizations.md` §6): `S-810` the `x-required-permissions` annotations of
//! Camunda 8.10's OpenAPI spec (`zeebe/gateway-protocol/src/main/proto/v2/*.yaml`, read for
//! users, roles, tenants, mapping rules, authorizations, process definitions, batch operations
//! and user tasks; an `anyOf` there is several rows here, and `x-permission-enforcement:
//! filter` is [`Engine::Filters`]); `D88`/`D89` the permission descriptions of the docs.
//! Status: `V-spec` the 8.10 annotation was read (that 8.8 and 8.9 check the same is not
//! verified); `U` not verified (the annotation was not read: by analogy with the annotated
//! siblings, or from the permission's description).
//!
//! Where the id is: a search (filters, refuses nothing) and an operation by key (the engine
//! resolves the key to the process, decision, …) are [`ResourceId::Resolved`]; an operation
//! on a named identity entity is [`ResourceId::Path`] (the path variable is the id the engine
//! checks: the edge grants on any id where the engine checks, and names it in deny messages);
//! a create, or a type whose authorizations only `*` can hold at the edge, is
//! [`ResourceId::WildcardOnly`].

use super::Engine::{Absent, Checks, Filters, Resolves, WildcardOnly as EngineStar};
use super::Permission as P;
use super::ResourceId::{self, Field, Path, Resolved, WildcardOnly};
use super::ResourceType as R;
use super::{Engine, Row};

/// Status and citation of a row.
type Source = (&'static str, &'static str);

const SPEC: Source = ("V-spec", "S-810");
const ANALOGY: Source = (
    "U (no annotation in the stored spec: as the annotated roles/tenants)",
    "S-810",
);
const DOC: Source = ("U", "D88");
const DOC89: Source = ("U", "D89");
const MSG: Source = (
    "U (as PublishMessage: `*` only in 8.8, the name in 8.9)",
    "I-42473, D88",
);

/// (8.8, 8.9) engines.
const RESOLVES: (Engine, Engine) = (Resolves, Resolves);
const FILTERS: (Engine, Engine) = (Filters, Filters);
const CHECKS: (Engine, Engine) = (Checks, Checks);
const STAR: (Engine, Engine) = (EngineStar, EngineStar);
const RESOLVES_89: (Engine, Engine) = (Absent, Resolves);
const FILTERS_89: (Engine, Engine) = (Absent, Filters);
const CHECKS_89: (Engine, Engine) = (Absent, Checks);
const STAR_89: (Engine, Engine) = (Absent, EngineStar);
/// An operation new in 8.10 (no engine of 8.8 or 8.9 has it; the 8.10 spec says what 8.10's
/// checks).
const NEW_810: (Engine, Engine) = (Absent, Absent);
const LIKE_VARIABLES: Source = ("U (as SearchUserTaskVariables)", "S-810");

const fn rr(
    op: &'static str,
    resource: super::ResourceType,
    permission: super::Permission,
    id: ResourceId,
    (v8_8, v8_9): (Engine, Engine),
    (status, cite): Source,
) -> Row {
    Row {
        rpc: op,
        resource,
        permission,
        id,
        v8_8,
        v8_9,
        status,
        cite,
    }
}

/// REST-only operations Camunda checks no permission for: granted only by name, `rest:*` or
/// `admin:*` (or an `x-RPC` authorization on the name). With why.
pub const REST_NO_PERMISSION: &[(&str, &str)] = &[
    (
        "GetStatus",
        "U (a health probe: the gateway answers it without a check)",
    ),
    ("GetAuthentication", "U (the caller's own identity)"),
    ("GetLicense", "U (the license status, read without a check)"),
    (
        "CreateAdminUser",
        "U (setup: answers only while no admin user exists, unauthenticated)",
    ),
    (
        "GetSystemConfiguration",
        "U (the 8.10 spec names no permission and no 403)",
    ),
];

/// Why most of [`REST_UNVERIFIED`] has no row: operations new in 8.10 whose check was not read.
const UNREAD_8_10: &str = "U (8.10: the check was not read)";

/// REST-only operations whose permission is not known here: no row, so only their name,
/// `rest:*`/`admin:*` or an `x-RPC` authorization grants them.
pub const REST_UNVERIFIED: &[(&str, &str)] = &[
    ("PinClock", "U (a test feature; the check was not read)"),
    ("ResetClock", "U (a test feature; the check was not read)"),
    ("CreateGlobalExecutionListener", UNREAD_8_10),
    ("SearchGlobalExecutionListeners", UNREAD_8_10),
    ("GetGlobalExecutionListener", UNREAD_8_10),
    ("UpdateGlobalExecutionListener", UNREAD_8_10),
    ("DeleteGlobalExecutionListener", UNREAD_8_10),
    ("SearchAgentDefinitions", UNREAD_8_10),
    ("GetAgentDefinition", UNREAD_8_10),
    ("SearchAgentInstances", UNREAD_8_10),
    ("GetAgentInstance", UNREAD_8_10),
    ("TakeRuntimeBackup", UNREAD_8_10),
    ("ListRuntimeBackups", UNREAD_8_10),
    ("GetRuntimeBackupState", UNREAD_8_10),
    ("DeleteRuntimeBackupState", UNREAD_8_10),
    ("SyncRuntimeBackupState", UNREAD_8_10),
    ("GetRuntimeBackup", UNREAD_8_10),
    ("DeleteRuntimeBackup", UNREAD_8_10),
    (
        "ResolveSecrets",
        "U (8.10 checks SECRET REVEAL per reference, a type the dialect lacks)",
    ),
];

/// What every REST-only operation needs (see the module docs). An operation with several rows
/// is granted at the edge by any of them (the spec's `anyOf`, or a batch by `CREATE` or its
/// own `CREATE_BATCH_OPERATION_…`).
#[rustfmt::skip]
pub const REST_TABLE: &[Row] = &[
    // Cluster and jobs
    rr("GetUsageMetrics", R::System, P::ReadUsageMetric, WildcardOnly, STAR, DOC),
    rr("SearchJobs", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, DOC),
    rr("GetGlobalJobStatistics", R::System, P::ReadJobMetric, WildcardOnly, STAR_89, DOC89),
    // Incidents
    rr("SearchIncidents", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, DOC),
    rr("GetIncident", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES, DOC),
    rr("GetProcessInstanceStatisticsByDefinition", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS_89, DOC89),
    rr("GetProcessInstanceStatisticsByError", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS_89, DOC89),
    // Process instances
    rr("GetProcessInstance", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES, DOC),
    rr("GetProcessInstanceSequenceFlows", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES, DOC),
    rr("GetProcessInstanceStatistics", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES, DOC),
    rr("GetProcessInstanceCallHierarchy", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES, DOC),
    rr("SearchProcessInstances", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, DOC),
    rr("SearchProcessInstanceIncidents", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, DOC),
    rr("ResolveProcessInstanceIncidents", R::Batch, P::Create, WildcardOnly, STAR_89, DOC),
    rr("ResolveProcessInstanceIncidents", R::Batch, P::CreateBatchOperationResolveIncident, WildcardOnly, STAR_89, DOC),
    rr("DeleteProcessInstance", R::ProcessDefinition, P::DeleteProcessInstance, Resolved, RESOLVES_89, DOC89),
    rr("CancelProcessInstancesBatchOperation", R::Batch, P::Create, WildcardOnly, STAR, DOC),
    rr("CancelProcessInstancesBatchOperation", R::Batch, P::CreateBatchOperationCancelProcessInstance, WildcardOnly, STAR, DOC),
    rr("ResolveIncidentsBatchOperation", R::Batch, P::Create, WildcardOnly, STAR, DOC),
    rr("ResolveIncidentsBatchOperation", R::Batch, P::CreateBatchOperationResolveIncident, WildcardOnly, STAR, DOC),
    rr("MigrateProcessInstancesBatchOperation", R::Batch, P::Create, WildcardOnly, STAR, DOC),
    rr("MigrateProcessInstancesBatchOperation", R::Batch, P::CreateBatchOperationMigrateProcessInstance, WildcardOnly, STAR, DOC),
    rr("ModifyProcessInstancesBatchOperation", R::Batch, P::Create, WildcardOnly, STAR, DOC),
    rr("ModifyProcessInstancesBatchOperation", R::Batch, P::CreateBatchOperationModifyProcessInstance, WildcardOnly, STAR, DOC),
    rr("DeleteProcessInstancesBatchOperation", R::Batch, P::Create, WildcardOnly, STAR_89, DOC89),
    rr("DeleteProcessInstancesBatchOperation", R::Batch, P::CreateBatchOperationDeleteProcessInstance, WildcardOnly, STAR_89, DOC89),
    // Element instances and variables
    rr("SearchElementInstances", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, DOC),
    rr("GetElementInstance", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES, DOC),
    rr("SearchElementInstanceIncidents", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS_89, DOC),
    rr("ActivateAdHocSubProcessActivities", R::ProcessDefinition, P::UpdateProcessInstance, Resolved, RESOLVES, DOC),
    rr("SearchVariables", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, DOC),
    rr("GetVariable", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES, DOC),
    // Process definitions
    rr("SearchProcessDefinitions", R::ProcessDefinition, P::ReadProcessDefinition, Resolved, FILTERS, SPEC),
    rr("GetProcessDefinition", R::ProcessDefinition, P::ReadProcessDefinition, Resolved, RESOLVES, SPEC),
    rr("GetProcessDefinitionXml", R::ProcessDefinition, P::ReadProcessDefinition, Resolved, RESOLVES, SPEC),
    rr("GetStartProcessForm", R::ProcessDefinition, P::ReadProcessDefinition, Resolved, RESOLVES, SPEC),
    rr("GetProcessDefinitionStatistics", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, SPEC),
    rr("GetProcessDefinitionInstanceStatistics", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS_89, SPEC),
    rr("GetProcessDefinitionInstanceVersionStatistics", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS_89, SPEC),
    rr("GetProcessDefinitionMessageSubscriptionStatistics", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS_89, SPEC),
    // Decisions
    rr("SearchDecisionDefinitions", R::DecisionDefinition, P::ReadDecisionDefinition, Resolved, FILTERS, DOC),
    rr("GetDecisionDefinition", R::DecisionDefinition, P::ReadDecisionDefinition, Resolved, RESOLVES, DOC),
    rr("GetDecisionDefinitionXml", R::DecisionDefinition, P::ReadDecisionDefinition, Resolved, RESOLVES, DOC),
    rr("SearchDecisionRequirements", R::DecisionRequirementsDefinition, P::Read, Resolved, FILTERS, DOC),
    rr("GetDecisionRequirements", R::DecisionRequirementsDefinition, P::Read, Resolved, RESOLVES, DOC),
    rr("GetDecisionRequirementsXml", R::DecisionRequirementsDefinition, P::Read, Resolved, RESOLVES, DOC),
    rr("SearchDecisionInstances", R::DecisionDefinition, P::ReadDecisionInstance, Resolved, FILTERS, DOC),
    rr("GetDecisionInstance", R::DecisionDefinition, P::ReadDecisionInstance, Resolved, RESOLVES, DOC),
    rr("DeleteDecisionInstance", R::DecisionDefinition, P::DeleteDecisionInstance, Resolved, RESOLVES_89, DOC89),
    rr("DeleteDecisionInstancesBatchOperation", R::Batch, P::Create, WildcardOnly, STAR_89, DOC89),
    rr("DeleteDecisionInstancesBatchOperation", R::Batch, P::CreateBatchOperationDeleteDecisionInstance, WildcardOnly, STAR_89, DOC89),
    rr("EvaluateExpression", R::Expression, P::Evaluate, WildcardOnly, STAR_89, DOC89),
    // Messages
    rr("CorrelateMessage", R::Message, P::Create, Field, (EngineStar, Checks), MSG),
    rr("SearchMessageSubscriptions", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, DOC),
    rr("SearchCorrelatedMessageSubscriptions", R::ProcessDefinition, P::ReadProcessInstance, Resolved, FILTERS, DOC),
    // Resources
    rr("GetResource", R::Resource, P::Read, Resolved, RESOLVES, DOC),
    rr("GetResourceContent", R::Resource, P::Read, Resolved, RESOLVES, DOC),
    // User tasks (8.9 adds the USER_TASK type and PROCESS_DEFINITION's COMPLETE_USER_TASK)
    rr("SearchUserTasks", R::ProcessDefinition, P::ReadUserTask, Resolved, FILTERS, SPEC),
    rr("SearchUserTasks", R::UserTask, P::Read, Resolved, FILTERS_89, SPEC),
    rr("GetUserTask", R::ProcessDefinition, P::ReadUserTask, Resolved, RESOLVES, SPEC),
    rr("GetUserTask", R::UserTask, P::Read, Resolved, RESOLVES_89, SPEC),
    rr("GetUserTaskForm", R::ProcessDefinition, P::ReadUserTask, Resolved, RESOLVES, SPEC),
    rr("GetUserTaskForm", R::UserTask, P::Read, Resolved, RESOLVES_89, SPEC),
    rr("UpdateUserTask", R::ProcessDefinition, P::UpdateUserTask, Resolved, RESOLVES, SPEC),
    rr("UpdateUserTask", R::UserTask, P::Update, Resolved, RESOLVES_89, SPEC),
    rr("AssignUserTask", R::ProcessDefinition, P::UpdateUserTask, Resolved, RESOLVES, SPEC),
    rr("AssignUserTask", R::UserTask, P::Update, Resolved, RESOLVES_89, SPEC),
    rr("UnassignUserTask", R::ProcessDefinition, P::UpdateUserTask, Resolved, RESOLVES, SPEC),
    rr("UnassignUserTask", R::UserTask, P::Update, Resolved, RESOLVES_89, SPEC),
    rr("CompleteUserTask", R::ProcessDefinition, P::UpdateUserTask, Resolved, RESOLVES, SPEC),
    rr("CompleteUserTask", R::ProcessDefinition, P::CompleteUserTask, Resolved, RESOLVES_89, SPEC),
    rr("CompleteUserTask", R::UserTask, P::Update, Resolved, RESOLVES_89, SPEC),
    rr("CompleteUserTask", R::UserTask, P::Complete, Resolved, RESOLVES_89, SPEC),
    rr("SearchUserTaskVariables", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES, SPEC),
    rr("SearchUserTaskAuditLogs", R::AuditLog, P::Read, Resolved, FILTERS_89, DOC89),
    // Documents
    rr("CreateDocument", R::Document, P::Create, WildcardOnly, STAR, DOC),
    rr("CreateDocuments", R::Document, P::Create, WildcardOnly, STAR, DOC),
    rr("GetDocument", R::Document, P::Read, WildcardOnly, STAR, DOC),
    rr("DeleteDocument", R::Document, P::Delete, WildcardOnly, STAR, DOC),
    rr("CreateDocumentLink", R::Document, P::Read, WildcardOnly, STAR, DOC),
    // Batch operations
    rr("GetBatchOperation", R::Batch, P::Read, Resolved, RESOLVES, SPEC),
    rr("SearchBatchOperations", R::Batch, P::Read, Resolved, FILTERS, SPEC),
    rr("CancelBatchOperation", R::Batch, P::Update, Resolved, RESOLVES, SPEC),
    rr("SuspendBatchOperation", R::Batch, P::Update, Resolved, RESOLVES, SPEC),
    rr("ResumeBatchOperation", R::Batch, P::Update, Resolved, RESOLVES, SPEC),
    rr("SearchBatchOperationItems", R::Batch, P::Read, Resolved, FILTERS, SPEC),
    // Audit log and cluster variables (8.9)
    rr("SearchAuditLogs", R::AuditLog, P::Read, Resolved, FILTERS_89, DOC89),
    rr("GetAuditLog", R::AuditLog, P::Read, Resolved, RESOLVES_89, DOC89),
    rr("CreateGlobalClusterVariable", R::ClusterVariable, P::Create, WildcardOnly, STAR_89, DOC89),
    rr("GetGlobalClusterVariable", R::ClusterVariable, P::Read, Path("name"), CHECKS_89, DOC89),
    rr("UpdateGlobalClusterVariable", R::ClusterVariable, P::Update, Path("name"), CHECKS_89, DOC89),
    rr("DeleteGlobalClusterVariable", R::ClusterVariable, P::Delete, Path("name"), CHECKS_89, DOC89),
    rr("SearchClusterVariables", R::ClusterVariable, P::Read, Resolved, FILTERS_89, DOC89),
    rr("CreateTenantClusterVariable", R::ClusterVariable, P::Create, WildcardOnly, STAR_89, DOC89),
    rr("GetTenantClusterVariable", R::ClusterVariable, P::Read, Path("name"), CHECKS_89, DOC89),
    rr("UpdateTenantClusterVariable", R::ClusterVariable, P::Update, Path("name"), CHECKS_89, DOC89),
    rr("DeleteTenantClusterVariable", R::ClusterVariable, P::Delete, Path("name"), CHECKS_89, DOC89),
    // Users
    rr("CreateUser", R::User, P::Create, WildcardOnly, STAR, SPEC),
    rr("SearchUsers", R::User, P::Read, Resolved, FILTERS, SPEC),
    rr("GetUser", R::User, P::Read, Path("username"), CHECKS, SPEC),
    rr("UpdateUser", R::User, P::Update, Path("username"), CHECKS, SPEC),
    rr("DeleteUser", R::User, P::Delete, Path("username"), CHECKS, SPEC),
    // Groups
    rr("CreateGroup", R::Group, P::Create, WildcardOnly, STAR, ANALOGY),
    rr("SearchGroups", R::Group, P::Read, Resolved, FILTERS, ANALOGY),
    rr("GetGroup", R::Group, P::Read, Path("groupId"), CHECKS, ANALOGY),
    rr("UpdateGroup", R::Group, P::Update, Path("groupId"), CHECKS, ANALOGY),
    rr("DeleteGroup", R::Group, P::Delete, Path("groupId"), CHECKS, ANALOGY),
    rr("AssignUserToGroup", R::Group, P::Update, Path("groupId"), CHECKS, ANALOGY),
    rr("UnassignUserFromGroup", R::Group, P::Update, Path("groupId"), CHECKS, ANALOGY),
    rr("SearchUsersForGroup", R::Group, P::Read, Path("groupId"), FILTERS, ANALOGY),
    rr("AssignClientToGroup", R::Group, P::Update, Path("groupId"), CHECKS, ANALOGY),
    rr("UnassignClientFromGroup", R::Group, P::Update, Path("groupId"), CHECKS, ANALOGY),
    rr("SearchClientsForGroup", R::Group, P::Read, Path("groupId"), FILTERS, ANALOGY),
    rr("AssignMappingRuleToGroup", R::Group, P::Update, Path("groupId"), CHECKS, ANALOGY),
    rr("UnassignMappingRuleFromGroup", R::Group, P::Update, Path("groupId"), CHECKS, ANALOGY),
    rr("SearchMappingRulesForGroup", R::MappingRule, P::Read, Resolved, FILTERS, ANALOGY),
    rr("SearchRolesForGroup", R::Role, P::Read, Resolved, FILTERS, ANALOGY),
    // Roles
    rr("CreateRole", R::Role, P::Create, WildcardOnly, STAR, SPEC),
    rr("SearchRoles", R::Role, P::Read, Resolved, FILTERS, SPEC),
    rr("GetRole", R::Role, P::Read, Path("roleId"), CHECKS, SPEC),
    rr("UpdateRole", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("DeleteRole", R::Role, P::Delete, Path("roleId"), CHECKS, SPEC),
    rr("AssignRoleToUser", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("UnassignRoleFromUser", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("SearchUsersForRole", R::Role, P::Read, Path("roleId"), FILTERS, SPEC),
    rr("AssignRoleToClient", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("UnassignRoleFromClient", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("SearchClientsForRole", R::Role, P::Read, Path("roleId"), FILTERS, SPEC),
    rr("AssignRoleToGroup", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("UnassignRoleFromGroup", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("SearchGroupsForRole", R::Role, P::Read, Path("roleId"), FILTERS, SPEC),
    rr("AssignRoleToMappingRule", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("UnassignRoleFromMappingRule", R::Role, P::Update, Path("roleId"), CHECKS, SPEC),
    rr("SearchMappingRulesForRole", R::MappingRule, P::Read, Resolved, FILTERS, SPEC),
    // Tenants
    rr("CreateTenant", R::Tenant, P::Create, WildcardOnly, STAR, SPEC),
    rr("SearchTenants", R::Tenant, P::Read, Resolved, FILTERS, SPEC),
    rr("GetTenant", R::Tenant, P::Read, Path("tenantId"), CHECKS, SPEC),
    rr("UpdateTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("DeleteTenant", R::Tenant, P::Delete, Path("tenantId"), CHECKS, SPEC),
    rr("AssignUserToTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("UnassignUserFromTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("SearchUsersForTenant", R::Tenant, P::Read, Path("tenantId"), FILTERS, SPEC),
    rr("AssignClientToTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("UnassignClientFromTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("SearchClientsForTenant", R::Tenant, P::Read, Path("tenantId"), FILTERS, SPEC),
    rr("AssignGroupToTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("UnassignGroupFromTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("SearchGroupsForTenant", R::Tenant, P::Read, Path("tenantId"), FILTERS, SPEC),
    rr("AssignRoleToTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("UnassignRoleFromTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("SearchRolesForTenant", R::Role, P::Read, Resolved, FILTERS, SPEC),
    rr("AssignMappingRuleToTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("UnassignMappingRuleFromTenant", R::Tenant, P::Update, Path("tenantId"), CHECKS, SPEC),
    rr("SearchMappingRulesForTenant", R::MappingRule, P::Read, Resolved, FILTERS, SPEC),
    // Mapping rules and authorizations
    rr("CreateMappingRule", R::MappingRule, P::Create, WildcardOnly, STAR, SPEC),
    rr("SearchMappingRules", R::MappingRule, P::Read, Resolved, FILTERS, SPEC),
    rr("GetMappingRule", R::MappingRule, P::Read, Path("mappingRuleId"), CHECKS, SPEC),
    rr("UpdateMappingRule", R::MappingRule, P::Update, Path("mappingRuleId"), CHECKS, SPEC),
    rr("DeleteMappingRule", R::MappingRule, P::Delete, Path("mappingRuleId"), CHECKS, SPEC),
    rr("CreateAuthorization", R::Authorization, P::Create, WildcardOnly, STAR, SPEC),
    rr("SearchAuthorizations", R::Authorization, P::Read, Resolved, FILTERS, SPEC),
    rr("GetAuthorization", R::Authorization, P::Read, WildcardOnly, STAR, SPEC),
    rr("UpdateAuthorization", R::Authorization, P::Update, WildcardOnly, STAR, SPEC),
    rr("DeleteAuthorization", R::Authorization, P::Delete, WildcardOnly, STAR, SPEC),
    // Added by the 8.9/8.10 rows of proto/rest-operations.txt
    rr("GetJobTypeStatistics", R::System, P::ReadJobMetric, WildcardOnly, STAR_89, DOC89),
    rr("GetJobWorkerStatistics", R::System, P::ReadJobMetric, WildcardOnly, STAR_89, DOC89),
    rr("GetJobTimeSeriesStatistics", R::System, P::ReadJobMetric, WildcardOnly, STAR_89, DOC89),
    rr("GetJobErrorStatistics", R::System, P::ReadJobMetric, WildcardOnly, STAR_89, DOC89),
    rr("PauseExporting", R::System, P::Update, WildcardOnly, NEW_810, SPEC),
    rr("ResumeExporting", R::System, P::Update, WildcardOnly, NEW_810, SPEC),
    rr("TriggerTimer", R::ProcessDefinition, P::UpdateProcessInstance, Resolved, NEW_810, SPEC),
    rr("GetFormByKey", R::Resource, P::Read, Resolved, RESOLVES_89, SPEC),
    rr("SearchUserTaskEffectiveVariables", R::ProcessDefinition, P::ReadProcessInstance, Resolved, RESOLVES_89, LIKE_VARIABLES),
    rr("CreateGlobalTaskListener", R::GlobalListener, P::CreateTaskListener, WildcardOnly, STAR_89, DOC89),
    rr("SearchGlobalTaskListeners", R::GlobalListener, P::ReadTaskListener, WildcardOnly, STAR_89, DOC89),
    rr("GetGlobalTaskListener", R::GlobalListener, P::ReadTaskListener, WildcardOnly, STAR_89, DOC89),
    rr("UpdateGlobalTaskListener", R::GlobalListener, P::UpdateTaskListener, WildcardOnly, STAR_89, DOC89),
    rr("DeleteGlobalTaskListener", R::GlobalListener, P::DeleteTaskListener, WildcardOnly, STAR_89, DOC89),
];

/// The REST-only operations' table as Markdown (appended to [`super::render_table`]).
pub(super) fn render() -> String {
    let mut out = String::from(
        "\n## REST-only operation → Camunda permission\n\n\
         What each REST-only operation of the Orchestration Cluster API (`/v2`) needs, and what \
         the dialect compares at the edge (a REST twin of an rpc is that rpc, above). Status \
         `V-spec`: the `x-required-permissions` of Camunda 8.10's OpenAPI spec (S-810) was read, \
         that 8.8/8.9 check the same is not verified; `U`: not verified.\n\n\
         Resource id at the edge: **path `{var}`** = the path variable is the id: the edge grants \
         on any id where the engine checks (the realm's `engine_authorizations`), else only `*`, \
         and names it in deny messages; **resolved** = a key the engine resolves, or a search it \
         filters; **field**, **`*` only** as above. An operation new in 8.10 shows – for both \
         engines: 8.10's spec is its source.\n\n\
         | operation | request field | resource type | permission | resource id at the edge | engine 8.8 | engine 8.9 | status | citation |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for op in crate::catalog::Rpc::operations().filter(|o| !o.is_grpc()) {
        let mut any = false;
        for r in super::rows_of(op) {
            any = true;
            let (field, id) = match r.id {
                Field => (
                    super::id_kind(r.resource)
                        .and_then(|k| crate::policy::condition::field_name(op, k))
                        .map_or_else(|| "–".to_string(), |f| format!("`{f}`")),
                    "field".to_string(),
                ),
                Path(var) => ("–".to_string(), format!("path `{{{var}}}`")),
                Resolved => ("–".to_string(), "resolved".to_string()),
                WildcardOnly => ("–".to_string(), "`*` only".to_string()),
            };
            out.push_str(&format!(
                "| {op} | {field} | {} | {} | {id} | {} | {} | {} | {} |\n",
                r.resource,
                r.permission,
                super::engine_word(r.v8_8),
                super::engine_word(r.v8_9),
                r.status,
                r.cite
            ));
        }
        if any {
            continue;
        }
        let listed = REST_NO_PERMISSION
            .iter()
            .map(|(o, why)| (o, "none", why))
            .chain(REST_UNVERIFIED.iter().map(|(o, why)| (o, "unknown", why)))
            .find(|(o, _, _)| **o == op.name());
        let (what, why) = listed.map_or(("unknown", "U (not in the table)"), |(_, w, y)| (w, *y));
        out.push_str(&format!(
            "| {op} | – | – | {what} | – | – | – | {why} | – |\n"
        ));
    }
    out
}
