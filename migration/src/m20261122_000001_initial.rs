//! The whole data model: identities, tenancy, roles, credentials, sessions, audit,
//! usage and the CLI login flows.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    Issuer,
    Subject,
    Email,
    EmailVerified,
    Name,
    IsInstanceAdmin,
    SuspendedAt,
    SuspendedReason,
    LastSignInAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    Slug,
    SuspendedAt,
    SuspendedReason,
    RateLimitPerMinute,
    RateLimitFailOpen,
    PatMaxLifetimeDays,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    OrganizationId,
    Name,
    Slug,
    Namespace,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    OrganizationId,
    Key,
    Name,
    Description,
    Builtin,
    Permissions,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApplicationResources {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    OrganizationId,
    CustomerId,
    RoleId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Invites {
    Table,
    Id,
    OrganizationId,
    Email,
    RoleId,
    InvitedBy,
    Status,
    ExpiresAt,
    RespondedAt,
    RespondedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ServiceAccounts {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    RoleId,
    DisabledAt,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    Kind,
    OrganizationId,
    ProjectId,
    CustomerId,
    ServiceAccountId,
    CreatedBy,
    Name,
    DisplayPrefix,
    Last4,
    TokenHash,
    Scopes,
    Environment,
    ExpiresAt,
    DisabledAt,
    RevokedAt,
    RevokedReason,
    RevokedBy,
    RotatedFromId,
    GraceExpiresAt,
    RateLimitPerMinute,
    Imported,
    ImportPrefix,
    LastUsedAt,
    LastUsedIp,
    RequestCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    CustomerId,
    OrganizationId,
    ProjectId,
    UserAgent,
    Ip,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OrganizationId,
    Seq,
    OccurredAt,
    ActorType,
    ActorId,
    ActorName,
    Agent,
    CredentialId,
    Action,
    TargetType,
    TargetId,
    TargetName,
    Details,
    Ip,
    UserAgent,
    RequestId,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditChainHeads {
    Table,
    Scope,
    Seq,
    LastHash,
}

#[derive(DeriveIden)]
enum UsageBuckets {
    Table,
    CredentialId,
    Minute,
    Count,
}

#[derive(DeriveIden)]
enum DeviceAuthorizations {
    Table,
    Id,
    DeviceCodeHash,
    UserCode,
    ClientName,
    Status,
    CustomerId,
    CredentialId,
    IntervalSecs,
    ExpiresAt,
    LastPolledAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CliLoginCodes {
    Table,
    Id,
    CodeHash,
    RedirectUri,
    CodeChallenge,
    Name,
    CustomerId,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum InstanceSettings {
    Table,
    Key,
    Value,
    UpdatedAt,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    timestamp_with_time_zone(col)
}

fn ts_null(col: impl IntoIden) -> ColumnDef {
    timestamp_with_time_zone_null(col)
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create()
        .name(name)
        .table(table)
        .if_not_exists()
        .take();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Customers::Table)
                .col(pk_uuid(Customers::Id))
                .col(string(Customers::Issuer))
                .col(string(Customers::Subject))
                .col(string(Customers::Email))
                .col(boolean(Customers::EmailVerified).default(false))
                .col(string(Customers::Name))
                .col(boolean(Customers::IsInstanceAdmin).default(false))
                .col(ts_null(Customers::SuspendedAt))
                .col(text_null(Customers::SuspendedReason))
                .col(ts_null(Customers::LastSignInAt))
                .col(ts(Customers::CreatedAt))
                .col(ts(Customers::UpdatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_customers_identity",
                Customers::Table,
                &["issuer", "subject"],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index("ix_customers_email", Customers::Table, &["email"]))
            .await?;

        m.create_table(
            Table::create()
                .table(Organizations::Table)
                .col(pk_uuid(Organizations::Id))
                .col(string(Organizations::Name))
                .col(string_uniq(Organizations::Slug))
                .col(ts_null(Organizations::SuspendedAt))
                .col(text_null(Organizations::SuspendedReason))
                .col(integer_null(Organizations::RateLimitPerMinute))
                .col(boolean(Organizations::RateLimitFailOpen).default(false))
                .col(integer_null(Organizations::PatMaxLifetimeDays))
                .col(ts(Organizations::CreatedAt))
                .col(ts(Organizations::UpdatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Projects::Table)
                .col(pk_uuid(Projects::Id))
                .col(uuid(Projects::OrganizationId))
                .col(string(Projects::Name))
                .col(string(Projects::Slug))
                .col(string_uniq(Projects::Namespace))
                .col(ts(Projects::CreatedAt))
                .col(ts(Projects::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_projects_org",
                    (Projects::Table, Projects::OrganizationId),
                    (Organizations::Table, Organizations::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_projects_org_slug",
                Projects::Table,
                &["organization_id", "slug"],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Roles::Table)
                .col(pk_uuid(Roles::Id))
                .col(uuid_null(Roles::OrganizationId))
                .col(string(Roles::Key))
                .col(string(Roles::Name))
                .col(text(Roles::Description))
                .col(boolean(Roles::Builtin).default(false))
                .col(json(Roles::Permissions))
                .col(ts(Roles::CreatedAt))
                .col(ts(Roles::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_roles_org",
                    (Roles::Table, Roles::OrganizationId),
                    (Organizations::Table, Organizations::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_roles_org_key",
                Roles::Table,
                &["organization_id", "key"],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApplicationResources::Table)
                .col(pk_uuid(ApplicationResources::Id))
                .col(uuid(ApplicationResources::OrganizationId))
                .col(string(ApplicationResources::Name))
                .col(text(ApplicationResources::Description))
                .col(ts(ApplicationResources::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_app_resources_org",
                    (
                        ApplicationResources::Table,
                        ApplicationResources::OrganizationId,
                    ),
                    (Organizations::Table, Organizations::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_app_resources_org_name",
                ApplicationResources::Table,
                &["organization_id", "name"],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Memberships::Table)
                .col(pk_uuid(Memberships::Id))
                .col(uuid(Memberships::OrganizationId))
                .col(uuid(Memberships::CustomerId))
                .col(uuid(Memberships::RoleId))
                .col(ts(Memberships::CreatedAt))
                .col(ts(Memberships::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_memberships_org",
                    (Memberships::Table, Memberships::OrganizationId),
                    (Organizations::Table, Organizations::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_memberships_customer",
                    (Memberships::Table, Memberships::CustomerId),
                    (Customers::Table, Customers::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_memberships_role",
                    (Memberships::Table, Memberships::RoleId),
                    (Roles::Table, Roles::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_memberships_org_customer",
                Memberships::Table,
                &["organization_id", "customer_id"],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_index(index(
            "ix_memberships_customer",
            Memberships::Table,
            &["customer_id"],
        ))
        .await?;
        m.create_index(index(
            "ix_memberships_role",
            Memberships::Table,
            &["role_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Invites::Table)
                .col(pk_uuid(Invites::Id))
                .col(uuid(Invites::OrganizationId))
                .col(string(Invites::Email))
                .col(uuid(Invites::RoleId))
                .col(uuid_null(Invites::InvitedBy))
                .col(string(Invites::Status))
                .col(ts(Invites::ExpiresAt))
                .col(ts_null(Invites::RespondedAt))
                .col(uuid_null(Invites::RespondedBy))
                .col(ts(Invites::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_invites_org",
                    (Invites::Table, Invites::OrganizationId),
                    (Organizations::Table, Organizations::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(index(
            "ix_invites_org_status",
            Invites::Table,
            &["organization_id", "status"],
        ))
        .await?;
        m.create_index(index("ix_invites_email", Invites::Table, &["email"]))
            .await?;

        m.create_table(
            Table::create()
                .table(ServiceAccounts::Table)
                .col(pk_uuid(ServiceAccounts::Id))
                .col(uuid(ServiceAccounts::OrganizationId))
                .col(string(ServiceAccounts::Name))
                .col(text(ServiceAccounts::Description))
                .col(uuid(ServiceAccounts::RoleId))
                .col(ts_null(ServiceAccounts::DisabledAt))
                .col(uuid_null(ServiceAccounts::CreatedBy))
                .col(ts(ServiceAccounts::CreatedAt))
                .col(ts(ServiceAccounts::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_service_accounts_org",
                    (ServiceAccounts::Table, ServiceAccounts::OrganizationId),
                    (Organizations::Table, Organizations::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            index(
                "ux_service_accounts_org_name",
                ServiceAccounts::Table,
                &["organization_id", "name"],
            )
            .unique()
            .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Credentials::Table)
                .col(pk_uuid(Credentials::Id))
                .col(string(Credentials::Kind))
                .col(uuid_null(Credentials::OrganizationId))
                .col(uuid_null(Credentials::ProjectId))
                .col(uuid_null(Credentials::CustomerId))
                .col(uuid_null(Credentials::ServiceAccountId))
                .col(uuid_null(Credentials::CreatedBy))
                .col(string(Credentials::Name))
                .col(string(Credentials::DisplayPrefix))
                .col(string(Credentials::Last4))
                .col(string_uniq(Credentials::TokenHash))
                .col(json_null(Credentials::Scopes))
                .col(string_null(Credentials::Environment))
                .col(ts_null(Credentials::ExpiresAt))
                .col(ts_null(Credentials::DisabledAt))
                .col(ts_null(Credentials::RevokedAt))
                .col(text_null(Credentials::RevokedReason))
                .col(uuid_null(Credentials::RevokedBy))
                .col(uuid_null(Credentials::RotatedFromId))
                .col(ts_null(Credentials::GraceExpiresAt))
                .col(integer_null(Credentials::RateLimitPerMinute))
                .col(boolean(Credentials::Imported).default(false))
                .col(string_null(Credentials::ImportPrefix))
                .col(ts_null(Credentials::LastUsedAt))
                .col(string_null(Credentials::LastUsedIp))
                .col(big_integer(Credentials::RequestCount).default(0))
                .col(ts(Credentials::CreatedAt))
                .col(ts(Credentials::UpdatedAt))
                .take(),
        )
        .await?;
        for (name, cols) in [
            ("ix_credentials_org", &["organization_id", "id"][..]),
            ("ix_credentials_customer_kind", &["customer_id", "kind"][..]),
            (
                "ix_credentials_service_account",
                &["service_account_id"][..],
            ),
            ("ix_credentials_project", &["project_id"][..]),
            ("ix_credentials_rotated_from", &["rotated_from_id"][..]),
            ("ix_credentials_import_prefix", &["import_prefix"][..]),
        ] {
            m.create_index(index(name, Credentials::Table, cols))
                .await?;
        }

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(pk_uuid(Sessions::Id))
                .col(string_uniq(Sessions::TokenHash))
                .col(uuid_null(Sessions::CustomerId))
                .col(uuid_null(Sessions::OrganizationId))
                .col(uuid_null(Sessions::ProjectId))
                .col(text_null(Sessions::UserAgent))
                .col(string_null(Sessions::Ip))
                .col(ts(Sessions::CreatedAt))
                .col(ts(Sessions::LastSeenAt))
                .col(ts(Sessions::ExpiresAt))
                .col(ts_null(Sessions::RevokedAt))
                .take(),
        )
        .await?;
        m.create_index(index(
            "ix_sessions_customer",
            Sessions::Table,
            &["customer_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(pk_uuid(AuditEvents::Id))
                .col(uuid_null(AuditEvents::OrganizationId))
                .col(big_integer(AuditEvents::Seq))
                .col(ts(AuditEvents::OccurredAt))
                .col(string(AuditEvents::ActorType))
                .col(uuid_null(AuditEvents::ActorId))
                .col(string(AuditEvents::ActorName))
                .col(string_null(AuditEvents::Agent))
                .col(uuid_null(AuditEvents::CredentialId))
                .col(string(AuditEvents::Action))
                .col(string_null(AuditEvents::TargetType))
                .col(string_null(AuditEvents::TargetId))
                .col(string_null(AuditEvents::TargetName))
                .col(json(AuditEvents::Details))
                .col(string_null(AuditEvents::Ip))
                .col(text_null(AuditEvents::UserAgent))
                .col(string_null(AuditEvents::RequestId))
                .col(string(AuditEvents::PrevHash))
                .col(string(AuditEvents::Hash))
                .take(),
        )
        .await?;
        for (name, cols) in [
            ("ix_audit_org_seq", &["organization_id", "seq"][..]),
            ("ix_audit_actor", &["actor_id"][..]),
            ("ix_audit_action", &["action"][..]),
            ("ix_audit_target", &["target_id"][..]),
            ("ix_audit_occurred", &["occurred_at"][..]),
        ] {
            m.create_index(index(name, AuditEvents::Table, cols))
                .await?;
        }

        m.create_table(
            Table::create()
                .table(AuditChainHeads::Table)
                .col(string(AuditChainHeads::Scope).primary_key())
                .col(big_integer(AuditChainHeads::Seq))
                .col(string(AuditChainHeads::LastHash))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(UsageBuckets::Table)
                .col(uuid(UsageBuckets::CredentialId))
                .col(ts(UsageBuckets::Minute))
                .col(big_integer(UsageBuckets::Count))
                .primary_key(
                    Index::create()
                        .col(UsageBuckets::CredentialId)
                        .col(UsageBuckets::Minute),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DeviceAuthorizations::Table)
                .col(pk_uuid(DeviceAuthorizations::Id))
                .col(string_uniq(DeviceAuthorizations::DeviceCodeHash))
                .col(string_uniq(DeviceAuthorizations::UserCode))
                .col(string(DeviceAuthorizations::ClientName))
                .col(string(DeviceAuthorizations::Status))
                .col(uuid_null(DeviceAuthorizations::CustomerId))
                .col(uuid_null(DeviceAuthorizations::CredentialId))
                .col(integer(DeviceAuthorizations::IntervalSecs))
                .col(ts(DeviceAuthorizations::ExpiresAt))
                .col(ts_null(DeviceAuthorizations::LastPolledAt))
                .col(ts(DeviceAuthorizations::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CliLoginCodes::Table)
                .col(pk_uuid(CliLoginCodes::Id))
                .col(string_uniq(CliLoginCodes::CodeHash))
                .col(text(CliLoginCodes::RedirectUri))
                .col(string(CliLoginCodes::CodeChallenge))
                .col(string(CliLoginCodes::Name))
                .col(uuid(CliLoginCodes::CustomerId))
                .col(ts(CliLoginCodes::ExpiresAt))
                .col(ts_null(CliLoginCodes::UsedAt))
                .col(ts(CliLoginCodes::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(InstanceSettings::Table)
                .col(string(InstanceSettings::Key).primary_key())
                .col(text(InstanceSettings::Value))
                .col(ts(InstanceSettings::UpdatedAt))
                .take(),
        )
        .await?;

        Ok(())
    }
}
